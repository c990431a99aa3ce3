"""The PyAV reader: files, network streams and capture devices, decoded with FFmpeg.

`PyAVSource` is the `Source` that `open_source` returns. Its parts live beside it: what an
address means (`address`), when to reconnect (`reconnect`), the timeline, sampling and pacing
(`timing`) and the event log (`events`); this module opens containers, demuxes, decodes and
decides which pictures need no decoding.

Decoding is the dominant cost of a camera, so the source decodes no more than it must: codec
threads, pixel conversion only for the frames that are yielded (with the resize done by swscale
in the same pass), and, for pictures that cannot be sampled, no decoding at all when the codec
allows it (intra-only streams) or a non-reference skip (`skip_frame = "NONREF"`) where it provably
leaves the sampled frames unchanged.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import av.error
from av.container import InputContainer
from av.packet import Packet
from av.stream import Discard
from av.video.frame import VideoFrame
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream

from veilleur.sources.address import parse_address
from veilleur.sources.base import SourceError, SourceEvent, SourceInfo
from veilleur.sources.events import EventLog
from veilleur.sources.reconnect import OpenFailure, Reconnector
from veilleur.sources.timing import Clock, Pacer, Sampler, Timeline, TimestampRepair
from veilleur.types import Frame

log = logging.getLogger(__name__)

# Codecs whose decoders honour `skip_frame = NONREF` by dropping only pictures nothing else refers
# to. Others keep full decoding: skipping there could change the pictures that come out.
_NONREF_CODECS = frozenset({"h264", "hevc", "mpeg4", "mpeg2video", "mpeg1video"})
# Output pictures whose pts must match a submitted packet before NONREF skipping is trusted.
_NONREF_WARMUP = 32
# A stream is treated as intra-only after this many leading packets that are all keyframes.
_ALL_KEY_RUN = 30
# Recent packet pts kept to find a picture's display predecessor (beyond any reorder depth).
_PTS_WINDOW = 96
# Consecutive demuxer errors without a packet in between after which reading is abandoned.
_MAX_DEMUX_ERRORS = 64


@dataclass(eq=False)
class _Session:
    """One opened container and the per-connection state of its decoder."""

    container: InputContainer
    stream: VideoStream
    tb: float
    intra_only: bool
    nonref_capable: bool
    default_skip: str
    clock: Clock = field(default_factory=Clock)
    resume_after_pts: int | None = None
    """After a reconnect to a finite resource: pictures up to this pts were already delivered."""
    last_pts: int | None = None
    submitted: list[int] = field(default_factory=list)
    """Sorted pts of the packets recently sent (or deliberately not sent) to the decoder."""
    hidden: list[int] = field(default_factory=list)
    """Heap of pts of pictures that were skipped, or sent with NONREF and may not come out."""
    pending: deque[VideoFrame] = field(default_factory=deque)
    key_run: int = 0
    saw_non_key: bool = False
    nonref_verified: int = 0
    stamps: TimestampRepair = field(default_factory=TimestampRepair)
    nonref_ok: bool | None = None
    """None while checking that frame pts match packet pts; then whether NONREF may be used."""
    skip_state: str = ""
    frames_out: int = 0


class PyAVSource:
    """Frames of one video file, network stream or capture device, sampled at `analysis_fps`.

    The source is opened in the constructor (`SourceError` if that is impossible). `frames()`
    yields BGR frames; it may be abandoned and called again to continue where it stopped.
    Network sources reconnect with exponential back-off when the stream drops; the times of the
    new connection continue after the old ones. Every problem is appended to `events` and passed
    to `on_event`.

    `decoded_frames` counts the pictures of the stream passed so far, including those the decoder
    was told to skip because they could not be sampled (`skipped_decodes` of them); `Frame.index`
    counts the same way, so indexes do not depend on the decoding shortcuts.

    Parameters beyond the obvious ones:

    - `analysis_fps`: yield the first picture at or after each instant `k / analysis_fps` of
      stream time (None: every picture).
    - `size`: `(width, height)` of the yielded images; swscale resizes during the BGR conversion.
    - `threads`: decoder threads, 0 for FFmpeg's choice (one per core).
    - `reconnect`: reopen after a drop; defaults to True for network URIs and capture devices.
      A network source that cannot be reached in the constructor is retried the same way, so
      with `max_retries=None` (retry forever) the constructor waits for the camera; pass
      `max_retries` to bound that.
    - `open_timeout_s`: limit for opening and for each read of a network stream; a stream silent
      for longer counts as dropped.
    - `skip_unsampled`: leave undecoded the pictures that cannot be sampled (intra-only streams)
      or let the decoder drop non-reference ones (`skip_frame = "NONREF"`); never changes which
      frames are yielded or their pixels.
    - `options`: extra FFmpeg options for the container (e.g. `{"rtsp_transport": "udp"}`).
    - `codec_options`: FFmpeg options for the video decoder (e.g. `{"skip_loop_filter": "all"}`
      for the statistics mode's lighter decoding).
    - `realtime`: yield each frame no earlier than its time after the first one, so that a file
      stands for a live camera (a consumer that falls behind gets the late frames at once).
      Live sources are paced by the camera itself; for them it changes nothing.
    - `loop`: files only; at the end start again from the beginning, times and indexes
      continuing (one nominal frame interval after the last picture), for demonstrations.
    """

    def __init__(
        self,
        uri: str,
        *,
        analysis_fps: float | None = 5.0,
        size: tuple[int, int] | None = None,
        threads: int = 0,
        reconnect: bool | None = None,
        max_retries: int | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        on_event: Callable[[SourceEvent], None] | None = None,
        open_timeout_s: float = 10.0,
        skip_unsampled: bool = True,
        options: Mapping[str, str] | None = None,
        codec_options: Mapping[str, str] | None = None,
        realtime: bool = False,
        loop: bool = False,
    ) -> None:
        if analysis_fps is not None and not analysis_fps > 0:
            raise ValueError(f"analysis_fps must be positive or None, got {analysis_fps!r}")
        if size is not None and (len(size) != 2 or min(size) <= 0):
            raise ValueError(f"size must be (width, height) in pixels, got {size!r}")
        if max_retries is not None and max_retries < 0:
            raise ValueError(f"max_retries must be >= 0 or None, got {max_retries!r}")
        self.uri = uri
        self._address = parse_address(uri)
        self._label = self._address.label
        self._network = self._address.network
        self._device = self._address.device
        self._path = self._address.path
        self._size = size
        self._threads = threads
        self._reconnect = (self._network or self._device) if reconnect is None else reconnect
        self._max_retries = max_retries
        self._open_timeout = open_timeout_s
        self._skip_unsampled = skip_unsampled and analysis_fps is not None
        self._user_options = dict(options or {})
        self._codec_options = dict(codec_options or {})
        self._realtime = realtime
        self._loop = loop and self._path is not None
        self.loops = 0
        """How many times a looped file started again."""

        self._log = EventLog(self._label, on_event)
        self.decoded_frames = 0
        self.sampled_frames = 0
        self.skipped_decodes = 0
        self.decode_errors = 0
        self.reconnects = 0

        self._reformatter = VideoReformatter()
        self._sampler = Sampler(analysis_fps)
        self._timeline = Timeline()
        self._warned_no_pts = False
        self._closed = False
        self._finished = False
        # Held while a frames() iterator runs FFmpeg code, so that close() from another thread
        # never frees the container under it.
        self._lock = threading.Lock()
        self._generation = 0
        self._current: Generator[Frame, None, None] | None = None
        self._stop = threading.Event()
        self._pacer = Pacer(self._stop)
        self._reconnector = Reconnector(
            max_retries=max_retries,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
            stop=self._stop,
            label=self._label,
        )
        self._duration_is_video = False

        self._session: _Session | None = self._open_first()
        s = self._session
        stream = s.stream
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else None
        self._timeline.nominal_dt = 1.0 / fps if fps and fps < 1000 else None
        self.info = SourceInfo(
            uri=self._label,
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            fps=fps,
            codec=stream.codec_context.name,
            duration_s=None if self._is_live_container(s) else self._duration(s),
            is_live=self._is_live_container(s),
        )
        self._realtime = self._realtime and not self.info.is_live

    # ----------------------------------------------------------------- public

    @property
    def events(self) -> list[SourceEvent]:
        """The most recent problems, oldest first (also passed to `on_event`)."""
        return self._log.events

    def frames(self) -> Iterator[Frame]:
        """Sampled frames until the end of the file, or until reconnection gives up.

        An iterator may be abandoned at any point; the next call to `frames()` continues with the
        next frame, and an older iterator stops at its next step.
        """
        self._generation += 1
        return self._frames(self._generation)

    def close(self) -> None:
        """Release the container and its decoder threads; safe to call twice or from another thread.

        If another thread is inside `frames()` (blocked on a read, or waiting to reconnect), that
        thread closes the container as soon as the call returns (at most the read timeout).
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._lock.acquire(blocking=False):
            try:
                self._close_current()
                self._drop_session()
            finally:
                self._lock.release()

    def __enter__(self) -> PyAVSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"PyAVSource({self._label!r}, decoded={self.decoded_frames}, "
            f"sampled={self.sampled_frames})"
        )

    # ------------------------------------------------------------ main loop

    def _frames(self, generation: int) -> Generator[Frame, None, None]:
        inner = self._run()
        try:
            while True:
                with self._lock:
                    if self._closed or generation != self._generation:
                        break
                    if self._current is not inner:
                        self._close_current()  # an abandoned iterator: release what it holds
                        self._current = inner
                    frame = next(inner, None)
                if frame is None:
                    break
                if self._realtime:
                    self._pacer.wait(frame.t)  # close() ends the wait at once
                yield frame
        finally:
            with self._lock:
                inner.close()
                if self._current is inner:
                    self._current = None
                if self._closed:
                    self._drop_session()

    def _close_current(self) -> None:
        # Closing the generator ends the demuxing generator and drops the packets it holds: they
        # keep the stream, hence the decoder and its threads, alive.
        current, self._current = self._current, None
        if current is not None:
            current.close()

    def _run(self) -> Generator[Frame, None, None]:
        while not self._closed and not self._finished:
            session = self._session
            if session is None:
                break
            cause = yield from self._play(session)
            if self._closed:
                break
            if cause is None and not self.info.is_live:
                self._check_complete()
                if self._loop and self._restart():
                    continue
                self._end()
                break
            if cause is None:
                cause = "the live stream ended (end of data from the server)"
            if not self._recover(cause):
                break

    def _play(self, s: _Session) -> Generator[Frame, None, str | None]:
        """Yield the frames of one session; None at the end of data, else why the stream dropped."""
        # Frames decoded but not yet handed out when frames() was last abandoned.
        yield from self._drain_pending(s)
        demux_errors = 0
        while True:
            try:
                for packet in s.container.demux(s.stream):
                    demux_errors = 0
                    if self._closed:
                        return "closed"
                    self._feed(s, packet)
                    yield from self._drain_pending(s)
                break
            except av.error.InvalidDataError as exc:
                # The demuxer met damaged data; it resynchronises on the next read.
                demux_errors += 1
                self._log.corrupt(
                    self._timeline.best_t(), f"unreadable container data ({_reason(exc)})"
                )
                if demux_errors >= _MAX_DEMUX_ERRORS:
                    if self._network:
                        return f"the stream keeps sending unreadable data ({_reason(exc)})"
                    self._log.corrupt(
                        self._timeline.best_t(),
                        "giving up reading the rest of the file",
                        always=True,
                    )
                    break
            except (av.error.FFmpegError, OSError) as exc:
                if self._network or self._device:
                    # What the decoder still holds is delivered; pictures whose data was cut off
                    # with the connection belong to the drop, not to damaged data.
                    self._timeline.quiet_gaps = True
                    try:
                        yield from self._flush(s)
                    finally:
                        self._timeline.quiet_gaps = False
                    if isinstance(exc, av.error.ExitError | TimeoutError):
                        return f"no data for {self._open_timeout:g} s"
                    return f"connection lost ({_reason(exc)})"
                self._log.corrupt(
                    self._timeline.best_t(),
                    f"read error, rest of the file lost ({_reason(exc)})",
                    always=True,
                )
                break
        yield from self._flush(s)
        return None

    def _flush(self, s: _Session) -> Generator[Frame, None, None]:
        """Hand out what the decoder still holds, then account for pictures skipped at the end."""
        s.pending.extend(self._decode(s, None))
        yield from self._drain_pending(s)
        while s.hidden:
            self._account_hidden(s, heapq.heappop(s.hidden))

    def _drain_pending(self, s: _Session) -> Generator[Frame, None, None]:
        while s.pending:
            out = self._on_frame(s, s.pending.popleft())
            if out is not None:
                yield out

    # --------------------------------------------------------------- decode

    def _feed(self, s: _Session, packet: Packet[VideoStream]) -> None:
        """Send one packet to the decoder, unless it holds a picture that cannot be sampled."""
        if packet.size == 0:
            # An empty packet is a repeated picture (AVI drop frame); sent, it would end decoding.
            if packet.pts is not None and s.clock.started:
                self._seen(s.clock.t(packet.pts * s.tb))
            return
        if packet.is_keyframe:
            s.key_run += 1
        else:
            s.saw_non_key = True
        pts = packet.pts
        if pts is None and (s.intra_only or not s.saw_non_key):
            pts = packet.dts  # intra pictures are never reordered, so dts is their pts
        skip = "keep"
        if (
            self._skip_unsampled
            and pts is not None
            and s.clock.started
            and s.resume_after_pts is None
            and s.stamps.faulty_pts == 0
            and self._unsampled(s, pts)
        ):
            if s.intra_only or (not s.saw_non_key and s.key_run >= _ALL_KEY_RUN):
                skip = "drop"
            elif s.nonref_ok and packet.pts is not None:
                skip = "nonref"
        if pts is not None:
            bisect.insort(s.submitted, pts)
            if len(s.submitted) > _PTS_WINDOW:
                del s.submitted[0]
        if skip != "keep":
            assert pts is not None
            heapq.heappush(s.hidden, pts)
            if skip == "drop":
                return
        self._set_skip(s, "NONREF" if skip == "nonref" else s.default_skip)
        s.pending.extend(self._decode(s, packet))

    def _set_skip(self, s: _Session, value: str) -> None:
        if s.skip_state != value:
            s.stream.codec_context.skip_frame = value  # type: ignore[assignment]
            s.skip_state = value

    def _decode(self, s: _Session, packet: Packet[VideoStream] | None) -> list[VideoFrame]:
        try:
            return s.stream.codec_context.decode(packet)
        except (av.error.FFmpegError, ValueError) as exc:
            if packet is None and isinstance(exc, av.error.EOFError):
                return []
            self.decode_errors += 1
            t = self._timeline.best_t()
            if packet is not None and packet.pts is not None:
                # No picture came of it, so it cannot be the predecessor of the next one.
                i = bisect.bisect_left(s.submitted, packet.pts)
                if i < len(s.submitted) and s.submitted[i] == packet.pts:
                    del s.submitted[i]
                if s.clock.started:
                    t = max(t, s.clock.t(packet.pts * s.tb))
            self._log.corrupt(t, f"undecodable packet ({_reason(exc)})")
            return []

    def _unsampled(self, s: _Session, pts: int) -> bool:
        """Whether the picture with this pts can be left undecoded without changing the output.

        A picture at `t` is sampled iff a sampling instant lies in `(t_prev, t]`, `t_prev` being
        the picture shown just before it. The predecessor is looked up among the pts submitted so
        far: one that is not yet submitted would only shrink that interval, so the answer errs
        towards decoding.
        """
        k = self._sampler.k(s.clock.t(pts * s.tb))
        if k < self._sampler.next_k:
            return True
        i = bisect.bisect_left(s.submitted, pts)
        if i == 0:
            return False
        return self._sampler.k(s.clock.t(s.submitted[i - 1] * s.tb)) == k

    # ---------------------------------------------------------------- frames

    def _on_frame(self, s: _Session, frame: VideoFrame) -> Frame | None:
        pts = self._timestamp(s, frame)
        while s.hidden and (pts is None or s.hidden[0] < pts):
            # Shown before this frame but never output: it was skipped, count it in order.
            self._account_hidden(s, heapq.heappop(s.hidden))
        if pts is not None and s.hidden and s.hidden[0] == pts:
            heapq.heappop(s.hidden)  # sent with NONREF but it was a reference: decoded after all
        self._check_nonref(s, frame.pts)
        if pts is not None and s.resume_after_pts is not None:
            if pts <= s.resume_after_pts:
                return None  # delivered before the connection dropped
            s.resume_after_pts = None

        raw = pts * s.tb if pts is not None else self._raw_without_pts(s)
        if s.last_pts is None or (pts is not None and pts > s.last_pts):
            s.last_pts = pts
        if not s.clock.started:
            self._timeline.start(s.clock, raw)
        t = s.clock.t(raw)
        shift = self._timeline.went_back(t)
        if shift > 0:
            # Timestamps went backwards (concatenated or restarted stream): continue after the
            # last time so `t` stays monotonic, and stop trusting pts for skip decisions.
            s.clock.offset += shift
            t = s.clock.t(raw)
            s.nonref_ok = False
            log.info("%s: timestamps jumped back; times continue from %.3f s", self._label, t)
        self._seen(t)
        index = self.decoded_frames
        self.decoded_frames += 1
        s.frames_out += 1
        self._timeline.picture(t)
        if frame.is_corrupt:
            self._log.corrupt(t, "picture decoded with errors (damaged areas concealed)")

        if not self._sampler.take(t):
            return None
        self.sampled_frames += 1
        return Frame(image=self._to_bgr(frame), t=t, index=index)

    def _to_bgr(self, frame: VideoFrame) -> Any:
        # One reformatter for the whole source: swscale reuses its context (and its scaling
        # tables) instead of rebuilding them per frame, which costs more than the conversion.
        if self._size is None:
            out = self._reformatter.reformat(frame, format="bgr24")
        else:
            out = self._reformatter.reformat(
                frame, width=self._size[0], height=self._size[1], format="bgr24"
            )
        return out.to_ndarray()

    def _account_hidden(self, s: _Session, pts: int) -> None:
        if s.resume_after_pts is not None and pts <= s.resume_after_pts:
            return
        self.decoded_frames += 1
        self.skipped_decodes += 1
        if s.last_pts is None or pts > s.last_pts:
            s.last_pts = pts
        t = s.clock.t(pts * s.tb)
        self._seen(t)
        self._timeline.skipped(t)

    def _timestamp(self, s: _Session, frame: VideoFrame) -> int | None:
        """The frame's time in stream units (`timing.TimestampRepair`)."""
        faults = s.stamps.faulty_pts
        pts = s.stamps.pick(frame.pts, frame.dts)
        if s.stamps.faulty_pts != faults:
            s.nonref_ok = False  # skip decisions are made on packet pts
        return pts

    def _check_nonref(self, s: _Session, pts: int | None) -> None:
        """Trust NONREF skipping only once output pts are seen to be the packets' pts."""
        if s.nonref_ok is not None or not s.nonref_capable:
            return
        i = bisect.bisect_left(s.submitted, pts) if pts is not None else 0
        if pts is None or i == len(s.submitted) or s.submitted[i] != pts:
            s.nonref_ok = False
            return
        s.nonref_verified += 1
        if s.nonref_verified >= _NONREF_WARMUP:
            s.nonref_ok = True

    def _raw_without_pts(self, s: _Session) -> float:
        raw, rate = self._timeline.without_pts(s.frames_out)
        if not self._warned_no_pts:
            self._warned_no_pts = True
            self._log.emit(
                "no_timestamps",
                self._timeline.best_t(),
                f"{self._label}: the stream carries no timestamps; times are computed as "
                f"picture count / {rate:g} fps and drift if the real rate differs",
            )
        return raw

    def _restart(self) -> bool:
        """Reopen a looped file from its beginning; False if it cannot be reopened."""
        self._drop_session()
        try:
            self._session = self._open()
        except OpenFailure as exc:
            self._log.emit("gave_up", self._timeline.best_t(), f"{self._label}: cannot loop: {exc}")
            return False
        self._timeline.looping = True
        self.loops += 1
        log.info("%s: end of file; looping (times continue)", self._label)
        return True

    def _seen(self, t: float) -> None:
        """Note a picture at `t`; report a hole in the timeline as lost data."""
        hole = self._timeline.seen(t)
        if hole is not None:
            self._log.corrupt(*hole)

    # ------------------------------------------------------------------ end

    def _check_complete(self) -> None:
        """A file that ends well before its announced duration was cut or damaged."""
        # The container's duration may include a longer audio track; the stream's own is exact.
        cut = self._timeline.truncation(self.info.duration_s, self._duration_is_video)
        if cut is not None:
            self._log.corrupt(*cut, always=True)

    def _end(self) -> None:
        self._finished = True
        pending = self._log.unreported
        problems = self.decode_errors + pending
        summary = f"{self.decoded_frames} pictures, {self.sampled_frames} frames yielded"
        if problems:
            summary += f", {self.decode_errors} undecodable packets"
        if pending:
            summary += f", {pending} problems not reported individually"
        self._log.emit(
            "end_of_stream", self._timeline.best_t(), f"{self._label}: end of stream ({summary})"
        )
        self._drop_session()

    # -------------------------------------------------------------- opening

    def _open_first(self) -> _Session:
        """Open in the constructor; network sources retry transient failures like a reconnect."""
        try:
            return self._open()
        except OpenFailure as exc:
            if exc.permanent or not self._reconnect or not self._network:
                raise SourceError(str(exc), self._label) from None
            first = exc
        self._log.emit("stream_dropped", 0.0, f"{first}; retrying")
        started = time.monotonic()
        session = self._retry_open()
        if session is None:
            raise SourceError(f"{first}; gave up after {self._max_retries} retries", self._label)
        self._log.emit(
            "reconnected",
            0.0,
            f"{self._label}: connected after {time.monotonic() - started:.1f} s",
        )
        return session

    def _open(self) -> _Session:
        kwargs: dict[str, Any] = {}
        if self._path is not None:
            self._check_file(self._path)
        target, forced_format = self._address.target()
        if forced_format is not None:
            kwargs["format"] = forced_format
        if self._network or self._device:
            kwargs["container_options"] = self._address.stream_options(
                self._open_timeout, self._user_options
            )
            kwargs["timeout"] = (self._open_timeout, self._open_timeout)
        elif self._user_options:
            kwargs["container_options"] = dict(self._user_options)
        try:
            container = av.open(target, "r", metadata_errors="replace", **kwargs)
        except Exception as exc:  # every failure becomes an explained error
            raise self._explain_open_error(exc) from None
        try:
            return self._make_session(container)
        except BaseException:
            container.close()
            raise

    def _make_session(self, container: InputContainer) -> _Session:
        if not container.streams:
            raise OpenFailure(
                f"cannot open video {self._label}: no video stream, no stream at all; the file "
                "is probably truncated or damaged (an MP4/MOV recording cut before its index, "
                "the moov atom, was written cannot be read)",
                permanent=True,
            )
        if not container.streams.video:
            kinds = sorted({st.type for st in container.streams})
            raise OpenFailure(
                f"{self._label} is not a video: no video stream (it contains "
                f"{', '.join(kinds)}); check that this is the right file or stream",
                permanent=True,
            )
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None:
            raise OpenFailure(
                f"cannot decode {self._label}: this FFmpeg build has no decoder for its video "
                "codec; convert the video to H.264 or install an FFmpeg with that decoder",
                permanent=True,
            )
        for other in container.streams:
            if other.index != stream.index:
                other.discard = Discard.all  # the demuxer drops their packets early
        # Codec threads (frame + slice) before the decoder opens; 0 lets FFmpeg pick per core.
        ctx.thread_type = "AUTO"
        ctx.thread_count = self._threads
        if self._codec_options:
            # Read when the decoder opens, at the first packet.
            ctx.options = dict(self._codec_options)
        if stream.time_base is None:
            raise OpenFailure(f"{self._label}: the video stream has no time base", permanent=True)
        codec = ctx.codec
        intra = bool(codec.intra_only)
        return _Session(
            container=container,
            stream=stream,
            tb=float(stream.time_base),
            intra_only=intra,
            nonref_capable=(not intra) and ctx.name in _NONREF_CODECS,
            default_skip=str(ctx.skip_frame),
            skip_state=str(ctx.skip_frame),
        )

    def _check_file(self, path: Path) -> None:
        # Not the folder itself: the message reaches the console and the API (camera status),
        # and the server's working folder is nobody's business there.
        where = (
            " (a relative path is read from the working folder of the process; give an "
            "absolute path)"
            if not path.is_absolute()
            else ""
        )
        if not path.exists():
            raise OpenFailure(
                f"cannot open video {str(path)!r}: file not found{where}; check the path",
                permanent=True,
            )
        if path.is_dir():
            raise OpenFailure(
                f"cannot open video {str(path)!r}: it is a directory, not a video file",
                permanent=True,
            )
        if not os.access(path, os.R_OK):
            raise OpenFailure(
                f"cannot open video {str(path)!r}: permission denied; check the file's "
                "read permission",
                permanent=True,
            )
        if path.stat().st_size == 0:
            raise OpenFailure(
                f"cannot open video {str(path)!r}: the file is empty (0 bytes)", permanent=True
            )

    def _explain_open_error(self, exc: BaseException) -> OpenFailure:
        reason = _reason(exc)
        if self._path is not None:
            path = str(self._path)
            if isinstance(exc, av.error.InvalidDataError):
                return OpenFailure(
                    f"cannot open video {path!r}: not a video, or damaged beyond reading "
                    f"({reason}); check that it is a complete video file (a recording cut "
                    "short before its index was written, e.g. an MP4 without its moov atom, "
                    "cannot be opened)",
                    permanent=True,
                )
            if isinstance(exc, av.error.FileNotFoundError | FileNotFoundError):
                return OpenFailure(f"cannot open video {path!r}: file not found", permanent=True)
            return OpenFailure(f"cannot open video {path!r}: {reason}", permanent=True)
        if self._device:
            return OpenFailure(
                f"cannot open capture device {self._label}: {reason}; check that the camera is "
                "plugged in, not used by another program, and readable by this user",
                permanent=False,
            )
        what = f"cannot open stream {self._label}: {reason}"
        if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
            return OpenFailure(f"{what}; check the user name and password", permanent=True)
        if isinstance(exc, av.error.ProtocolNotFoundError):
            return OpenFailure(
                f"{what}; this FFmpeg build cannot read {self._address.scheme}:// URLs",
                permanent=True,
            )
        if isinstance(exc, ConnectionRefusedError):
            hint = "check the host and port, and that the server or camera is running"
        elif isinstance(exc, TimeoutError | av.error.ExitError):
            hint = (
                f"no answer within {self._open_timeout:g} s: check the address, the network "
                "and firewalls"
            )
        elif isinstance(exc, av.error.HTTPNotFoundError):
            hint = "check the path of the URL (the stream may not be published yet)"
        else:
            hint = "check the URL, the network, and that the camera is streaming"
        return OpenFailure(f"{what}; {hint}", permanent=False)

    # ---------------------------------------------------------- reconnection

    def _recover(self, cause: str) -> bool:
        """After a drop: reopen with back-off. False when the source is finished."""
        t = self._timeline.best_t()
        old = self._session
        if old is not None and old.frames_out > 0:
            self._reconnector.delivered()
        else:
            self._reconnector.failed(cause)  # a connection that delivered nothing
        self._drop_session()
        if not self._reconnect:
            self._log.emit("stream_dropped", t, f"{self._label}: {cause}; reconnection is disabled")
            self._end()
            return False
        self._log.emit("stream_dropped", t, f"{self._label}: {cause}; reconnecting")
        dropped_wall = time.monotonic()
        session = self._retry_open()
        if session is None:
            return False
        self.reconnects += 1
        if old is not None and not self.info.is_live and old.clock.started:
            self._resume(session, old)
        offline = time.monotonic() - dropped_wall
        self._session = session
        self._log.emit(
            "reconnected",
            self._timeline.best_t(),
            f"{self._label}: reconnected after {offline:.1f} s",
        )
        return True

    def _retry_open(self) -> _Session | None:
        """Reopen with back-off (`reconnect.Reconnector`); None (after a gave_up event) when
        retries run out."""
        return self._reconnector.retry(
            self._open, closed=lambda: self._closed, gave_up=self._gave_up
        )

    def _gave_up(self, reason: str) -> None:
        self._finished = True
        self._log.emit("gave_up", self._timeline.best_t(), f"{self._label}: {reason}")

    def _resume(self, new: _Session, old: _Session) -> None:
        """A finite resource (HTTP file) reopened: seek back to where it dropped, skip the rest."""
        new.clock = Clock(old.clock.first_raw, old.clock.offset)
        new.resume_after_pts = old.last_pts
        if old.last_pts is None:
            return
        try:
            new.container.seek(old.last_pts, stream=new.stream, backward=True)
        except (av.error.FFmpegError, OSError):
            log.info("%s: cannot seek; re-reading from the start", self._label)

    def _drop_session(self) -> None:
        # A fresh reformatter: the old one's swscale context may hold worker threads.
        self._reformatter = VideoReformatter()
        s, self._session = self._session, None
        if s is not None:
            s.pending.clear()
            try:
                s.container.close()
            except (av.error.FFmpegError, OSError):  # already broken; nothing more to release
                log.debug("%s: error while closing", self._label, exc_info=True)

    # ----------------------------------------------------------------- misc

    def _is_live_container(self, s: _Session) -> bool:
        if self._address.always_live:
            return True
        if self._network:
            return s.container.duration is None
        return False

    def _duration(self, s: _Session) -> float | None:
        st = s.stream
        if st.duration is not None and st.time_base is not None:
            self._duration_is_video = True
            return float(st.duration * st.time_base)
        self._duration_is_video = len(s.container.streams) == 1
        if s.container.duration is not None:
            return s.container.duration / 1_000_000
        return None


def _reason(exc: BaseException) -> str:
    """A short cause: FFmpeg's strerror without the file name (a URL may hold a password)."""
    if isinstance(exc, av.error.FFmpegError) and exc.strerror:
        return str(exc.strerror)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


#: The name this reader had before sources were split into modules.
VideoSource = PyAVSource
