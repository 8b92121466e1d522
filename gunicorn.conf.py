"""gunicorn reads this file from the working directory: each web worker starts its
reaper as soon as it has loaded the app (``webapp.runs.start_recovery``)."""


def post_worker_init(worker):
    from webapp.runs import start_recovery

    start_recovery(worker.wsgi)
