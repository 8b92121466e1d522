"""gunicorn reads this file from the working directory: each web worker starts its
reaper and scheduler as soon as it has loaded the app (``webapp.start_background_work``)."""


def post_worker_init(worker):
    from webapp import start_background_work

    start_background_work(worker.wsgi)


# The longest request line gunicorn can take while still bounding it (its default is
# 4094): an over-long id up to this reaches the app and gets the JSON envelope. Past it
# gunicorn answers 414 itself; 0 would lift the bound altogether (it took a 3 MB line).
limit_request_line = 8190
