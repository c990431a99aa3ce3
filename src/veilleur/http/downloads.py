"""A generated document as an HTTP answer: HTML inline, other formats as a download."""

from __future__ import annotations

from fastapi import Response

from veilleur.compliance.documents import Document


def document_response(doc: Document) -> Response:
    disposition = "inline" if doc.fmt == "html" else "attachment"
    return Response(
        doc.content,
        media_type=doc.media_type,
        headers={"Content-Disposition": f'{disposition}; filename="{doc.filename}"'},
    )
