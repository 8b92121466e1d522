"""gunicorn reads this file from the working directory: each web worker starts its
reaper and scheduler as soon as it has loaded the app (``webapp.start_background_work``),
and in local mode its first sandbox process (``webapp.runs.start_sandboxes``), then
freezes what it built (``webapp.heap``). Its access log masks webhook tokens
(``webapp.path_secrets``), whatever ``--access-logformat`` says."""

logger_class = "webapp.path_secrets.MaskedLogger"


def post_worker_init(worker):
    from webapp import start_background_work
    from webapp.heap import freeze_startup_objects
    from webapp.runs import start_sandboxes

    start_background_work(worker.wsgi)
    start_sandboxes(worker.wsgi)
    freeze_startup_objects()


# The longest request line gunicorn can take while still bounding it (its default is
# 4094): an over-long id up to this reaches the app and gets the JSON envelope. Past it
# gunicorn answers 414 itself; 0 would lift the bound altogether (it took a 3 MB line).
limit_request_line = 8190
