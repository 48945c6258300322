"""Command-line tools on the Flask CLI (flask --app web ...)."""
