"""The OpenAI API's refusals as the simulator and the fault injector send them: status code and ``error`` body.

The ``openai`` client turns each status into its exception class (400 ``BadRequestError``, 404
``NotFoundError``, 429 ``RateLimitError``, ...), so a refused request fails as it would on the real service.
"""

from __future__ import annotations

from typing import Any

import httpx

API_REFERENCE = "Please check the API reference: https://platform.openai.com/docs/api-reference."


class ApiError(Exception):
    """A request the real service refuses: the status code and the ``error`` object it answers with."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code

    def body(self) -> dict[str, Any]:
        """The JSON body, shaped as OpenAI's ``ErrorResponse``."""
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def response(self, headers: dict[str, str] | None = None) -> httpx.Response:
        return json_response(self.body(), self.status, headers)


def json_response(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    """A JSON answer as the simulator sends it."""
    return httpx.Response(status, json=payload, headers={"x-request-id": "simulated", **(headers or {})})


def error_response(status: int, message: str, kind: str = "invalid_request_error") -> httpx.Response:
    return ApiError(status, message, kind).response()


def model_not_found(model: str) -> ApiError:
    # Confirmed: the real service's 404 for an unknown model (NotFoundError in the openai client).
    return ApiError(404, f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found")
