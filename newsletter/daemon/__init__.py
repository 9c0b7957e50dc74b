"""Daemon: ``newsletter serve``, the job on a schedule with its web endpoints.

Owns the scheduler (``scheduler``: APScheduler at cron's times, late runs made up from the
database), ``/healthz`` (``health``), the unsubscribe endpoint (``web``) and the sign-up
endpoints (``signup``, ``clientip``).

An entry point. May import: the job, settings, every stage; nothing imports it but ``cli``.
"""
