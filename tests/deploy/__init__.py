"""Deploy checks: images, docker compose and Kubernetes manifests (see deploy/README.md)."""
