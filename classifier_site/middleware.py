from classifier_site.info.views import healthz


class HealthCheckMiddleware:
    """Answers /healthz before the Host header is checked: probes from load balancers and the container's own
    health check reach the server by its address, not by a name in DJANGO_ALLOWED_HOSTS."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/healthz" and request.method in ("GET", "HEAD"):
            return healthz(request)
        return self.get_response(request)
