"""The on-board agent: everything edgeq runs on a board, and nothing else.

It needs Python >= 3.9, the standard library, numpy and whichever runtime the
board has. It never imports the host package: the host sends a job file and
reads back a result file. It ships as one zipapp (see edgeq/agentpack.py).
"""

AGENT_VERSION = "0.1.0"
JOB_SCHEMA = "edgeq.job/1"
RESULT_SCHEMA = "edgeq.result/1"
