"""The `voidrunner` command line (typer), built on `voidrunner.client.Client`."""
