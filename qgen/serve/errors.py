"""The one error a request can get back: an HTTP status, the field at fault and a sentence (never a traceback)."""

from __future__ import annotations


class ApiError(Exception):
    """Raised anywhere below a route; the app turns it into its status and a JSON body naming the field."""

    def __init__(self, status: int, field: str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message

    def body(self) -> dict[str, str | None]:
        """The response body: `{"detail": "FIELD: why", "field": FIELD}` (field null when no field is at fault)."""
        where = f"{self.field}: " if self.field else ""
        return {"detail": where + self.message, "field": self.field}
