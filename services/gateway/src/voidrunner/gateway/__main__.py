"""`python -m voidrunner.gateway`."""

from voidrunner.gateway.main import main

if __name__ == "__main__":
    main()
