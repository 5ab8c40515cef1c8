"""Imported once by the run launcher's forkserver (ForkserverRunLauncher's preload), before it forks any
run: the first-use costs that every run would otherwise pay again, paid once.

- boto3's default session loads the S3 service model when its first client is made: ~70 ms in each run
  (the signals step's `start` phase, bench/slot_latency.py). A run's clients (lake.storage.s3_client) are
  made from that same default session, so in a forked run they find the model loaded.

Nothing here touches the network: the throwaway client names its own (obviously fake) credentials, so
botocore never walks its credential chain (which could ask an instance-metadata endpoint), and a client
opens no connection until it makes a request.
"""

import boto3

boto3.client("s3", region_name="us-east-1", aws_access_key_id="warm-up", aws_secret_access_key="warm-up")  # noqa: S106 fake, never sent
