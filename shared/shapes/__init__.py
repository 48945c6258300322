"""Request shapes: every body and query string the API takes, declared once as pydantic models."""
