"""Configuration: the settings every process reads, and the page generated from them."""
