"""Code both the web API and the workers use: settings, database, money, partitions, rules."""
