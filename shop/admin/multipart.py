"""The console upload's request body: a multipart form read in fixed-size chunks, each file
part written to its own file as it arrives, so memory stays flat whatever the upload's size.

Werkzeug's sans-IO :class:`~werkzeug.sansio.multipart.MultipartDecoder` finds the parts; this
module decides where their bytes go and why a body is refused. The decoder holds in memory
the bytes not yet handed out: one read, plus up to ``len(boundary) + 4`` bytes kept back when
a read ends in a CR or LF that could begin the next boundary. Its ``max_form_memory_size``
bounds that buffer, so it must stay well above :data:`READ_SIZE` plus that tail; when the two
were equal, any binary file of more than a few hundred KB was refused (the review's F1). With
the boundary capped at RFC 2046's 70 characters, a file part can no longer reach the limit:
only a text field, a part's headers or a preamble of more than :data:`FORM_MEMORY` can, and
that gets its own message.

Each refusal is a :class:`Refused` whose ``str()`` is meant for the operator: it names the
limit in MB or GB and never a server path.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from shop.formatting import filesize

#: Bytes read from the request per step (and the most one file write or decoder step handles).
READ_SIZE = 256 * 1024
#: The most a text field, a part's headers or the preamble may hold; also the decoder's buffer
#: limit, which must exceed ``READ_SIZE + MAX_BOUNDARY + 4`` (see the module's docstring).
FORM_MEMORY = 1024 * 1024
#: RFC 2046 allows boundaries of 1 to 70 characters; browsers send about 40.
MAX_BOUNDARY = 70
#: Form fields and file parts one upload may have (an album of a few hundred tracks fits).
MAX_PARTS = 1000
#: The form field the console's file chooser sends files in.
FILES_FIELD = "files"


class Refused(ValueError):
    """A request body refused before anything was imported; ``str(exc)`` says why."""

    status = 400


class TooLarge(Refused):
    """The body is over ``SHOP_ADMIN_UPLOAD_MAX_BYTES``."""

    status = 413

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the upload is larger than {filesize(max_bytes)}, the most one upload may be "
                         "(SHOP_ADMIN_UPLOAD_MAX_BYTES). Split the album, or raise the setting.")


class FieldTooLarge(Refused):
    """A part that is not a file (kept in memory) is over :data:`FORM_MEMORY`."""

    status = 413


class TooManyParts(Refused):
    status = 413


@dataclass
class Received:
    """A parsed upload: its text fields, and each file part as it lies in ``folder``."""

    folder: Path
    form: MultiDict[str, str]
    files: list[tuple[str, Path]] = field(default_factory=list)  # (name the browser gave, path on disk)


def _field_too_large(name: str | None) -> FieldTooLarge:
    what = f"the form field {name!r}" if name else "a part of the form that is not a file"
    return FieldTooLarge(f"{what} is larger than {filesize(FORM_MEMORY)}, the most a form field may hold "
                         "(only files may be large: choose them with the file chooser).")


def receive(stream: IO[bytes], options: dict[str, str], content_length: int | None, folder: Path,
            max_bytes: int) -> Received:
    """Read a ``multipart/form-data`` body; write each file part to a file under ``folder/parts``.

    :param options: the Content-Type's parameters (its ``boundary``).
    :param content_length: the declared length, refused at once when over ``max_bytes``.
    :raises Refused: a malformed body (400), or :class:`TooLarge`, :class:`FieldTooLarge`,
        :class:`TooManyParts` (413).
    """
    boundary = options.get("boundary", "")
    if not boundary or len(boundary) > MAX_BOUNDARY or not boundary.isascii():
        raise Refused("the upload is not a multipart form with a valid boundary")
    if content_length is not None and content_length > max_bytes:
        raise TooLarge(max_bytes)
    parts = folder / "parts"
    parts.mkdir()
    decoder = MultipartDecoder(boundary.encode("ascii"), max_form_memory_size=FORM_MEMORY)
    received = Received(folder, MultiDict())
    opened: list[IO[bytes]] = []
    fields: list[tuple[str, str]] = []
    part: Field | File | None = None
    text = bytearray()
    sink: IO[bytes] | None = None
    count = total = 0
    try:
        while True:
            try:
                chunk = stream.read(READ_SIZE)
            except RequestEntityTooLarge:  # werkzeug's stream, past ``request.max_content_length``
                raise TooLarge(max_bytes) from None
            total += len(chunk)
            if total > max_bytes:
                raise TooLarge(max_bytes)
            try:
                decoder.receive_data(chunk or None)
                event = decoder.next_event()
                while not isinstance(event, NeedData | Epilogue):
                    if isinstance(event, File | Field):
                        count += 1
                        if count > MAX_PARTS:
                            raise TooManyParts(f"the upload has more than {MAX_PARTS} files and fields; "
                                               "send the album as one zip")
                        part, sink = event, None
                        text.clear()
                        if isinstance(event, File):
                            sink = tempfile.NamedTemporaryFile(dir=parts, delete=False)  # noqa: SIM115 (closed below)
                            opened.append(sink)
                    elif isinstance(event, Data) and part is not None:
                        if sink is not None:
                            sink.write(event.data)
                        else:
                            text += event.data
                            if len(text) > FORM_MEMORY:
                                raise _field_too_large(part.name)
                        if not event.more_data:
                            _finish(part, sink, text, fields, received)
                    event = decoder.next_event()
            except RequestEntityTooLarge:  # the decoder's buffer: headers or a preamble over FORM_MEMORY
                raise _field_too_large(None) from None
            except ValueError as exc:
                if isinstance(exc, Refused):
                    raise
                raise Refused("the upload is not a well-formed multipart form (was it cut short?)") from None
            if not chunk:
                break
    finally:
        for handle in opened:
            handle.close()
    received.form = MultiDict(fields)
    return received


def _finish(part: Field | File, sink: IO[bytes] | None, text: bytearray, fields: list[tuple[str, str]],
            received: Received) -> None:
    if isinstance(part, Field):
        fields.append((part.name, text.decode("utf-8", "replace")))
    elif sink is not None and part.name == FILES_FIELD and part.filename:
        sink.flush()
        received.files.append((part.filename, Path(sink.name)))
