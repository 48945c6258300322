"""How a web process serves: recording work, waking workers, waiting, backpressure."""
