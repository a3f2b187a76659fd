"""The on-board agent: everything edgeq runs on a board, and nothing else.

It needs Python >= 3.9, the standard library, numpy and whichever runtime the
board has. It never imports the host package: the host sends a job file and
reads back a result file. It ships as one zipapp (see edgeq/link/agentpack.py).
The contract with the host (schemas, exit codes, board paths, the phase record) is
wire.py, with the typed job and result records in records.py; the host imports
those two and nothing else from here.
"""
