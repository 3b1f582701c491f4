"""A fleet learning the digits together through Flower.

- :mod:`microprop_fleet.task`: the model, the non-IID shards, one client's
  local round, the centralized and local-only baselines.
- :mod:`microprop_fleet.device`: a client that is a firmware under QEMU,
  reached over semihosting files, with the CRC checked on both sides.
- :mod:`microprop_fleet.apps`: the Flower ServerApp (FedAvg or FedProx,
  the global model evaluated each round, bytes counted) and ClientApp.
- ``fleet/run.py``: runs it in Flower's simulation engine and reports.
"""
