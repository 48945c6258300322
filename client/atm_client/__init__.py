"""A Python client for the ATM transaction processor's HTTP API.

from atm_client import Client
with Client("http://127.0.0.1:5000", api_key=...) as atm:
    atm.withdraw("10001", "25.00")
"""

from atm_client.clients import AsyncClient, AsyncJob, Client, Job
from atm_client.errors import ERRORS, ApiError, TransportError

__all__ = ["ERRORS", "ApiError", "AsyncClient", "AsyncJob", "Client", "Job", "TransportError"]
