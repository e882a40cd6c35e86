# The job server's lifecycle (config job_server). One server per local run imports the
# numerical stack once and forks a child per job, so the many short jobs of a batch do not
# each pay for the imports (distraction.jobserver). Jobs find it through an environment
# variable; on SLURM nodes there is none, and a job that finds none runs in its own process.
_job_server = {}


onstart:
    if config["job_server"] and workflow.local_exec and not workflow.remote_exec:
        from distraction import jobserver

        server = jobserver.start(Path(RESULTS) / "logs" / "job_server.log")
        if server is not None:
            _job_server["process"] = server


def stop_job_server():
    if "process" in _job_server:
        from distraction import jobserver

        jobserver.stop(_job_server.pop("process"))


# Snakemake keeps one onsuccess handler: the run's headline (common.smk) is printed here.
onsuccess:
    stop_job_server()
    print_headline()


onerror:
    stop_job_server()
