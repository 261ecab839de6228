"""The single error type of the authority, carrying a stable error code."""

# Error code -> HTTP status. Codes are what clients see in {"error": code}.
HTTP_STATUS = {
    "invalid_request": 400,
    "invalid_host_id": 400,
    "invalid_parameter": 400,
    "invalid_json": 400,
    "missing_user_agent": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "length_required": 411,
    "payload_too_large": 413,
    "injected_fault": 503,
    "shutting_down": 503,
    "internal_error": 500,
}


class AuthorityError(Exception):
    """An error with a stable code (see HTTP_STATUS) and a human message."""

    def __init__(self, code, message, status=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else HTTP_STATUS.get(code, 400)

    def to_json(self):
        return {"error": self.code, "message": self.message}
