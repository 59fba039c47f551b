"""A paste filter that stands in for keystonemiddleware in the test Glance.

It sets the identity headers keystonemiddleware would set after a valid token
(so Glance's normal context middleware and default policy apply) and, when
GLANCE_TEST_TOKEN is set, answers 401 to any request without that token.
For tests on 127.0.0.1 only.
"""

import hmac
import json
import os

IDENTITY = {
    "HTTP_X_IDENTITY_STATUS": "Confirmed",
    "HTTP_X_PROJECT_ID": "diskscope-tests",
    "HTTP_X_PROJECT_NAME": "diskscope-tests",
    "HTTP_X_USER_ID": "tester",
    "HTTP_X_USER_NAME": "tester",
    "HTTP_X_ROLES": "admin,member,reader",
    "HTTP_X_PROJECT_DOMAIN_ID": "default",
    "HTTP_X_USER_DOMAIN_ID": "default",
    "HTTP_X_IS_ADMIN_PROJECT": "True",
}


class FakeAuth:
    def __init__(self, app):
        self.app = app
        self.token = os.environ.get("GLANCE_TEST_TOKEN", "")

    def __call__(self, environ, start_response):
        for key in [
            k
            for k in environ
            if k.startswith(
                (
                    "HTTP_X_ROLE",
                    "HTTP_X_PROJECT",
                    "HTTP_X_USER",
                    "HTTP_X_TENANT",
                    "HTTP_X_IDENTITY",
                    "HTTP_X_SERVICE",
                    "HTTP_X_DOMAIN",
                    "HTTP_X_IS_ADMIN",
                    "HTTP_X_SYSTEM",
                )
            )
        ]:
            del environ[key]
        given = environ.get("HTTP_X_AUTH_TOKEN", "")
        if self.token and not hmac.compare_digest(given.encode(), self.token.encode()):
            body = json.dumps({"error": {"code": 401, "title": "Unauthorized"}}).encode()
            start_response(
                "401 Unauthorized", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        environ.update(IDENTITY)
        return self.app(environ, start_response)


def filter_factory(global_conf, **local_conf):
    return FakeAuth
