"""The Dagster instance's plug-ins, named by dagster.yaml: not assets, and not loaded by the code location.

- `forkserver_launcher`: the embedded stack's run launcher (runs fork from a warm process), with
  `forkserver_warm`, what that process imports before it forks;
- `docker_launcher`: the compose stack's (dagster-docker's launcher, pools first);
- `pools`: each table pool's limit, created before a run claims it (both launchers);
- `internals`: the only module importing Dagster's non-public names, which these launchers need.

The webserver and the daemon load them (`run_launcher.module` in lake_tools/dagster_home.py and
docker/dagster/dagster.yaml); the code location (lake_assets) never imports them, nor they it.
"""
