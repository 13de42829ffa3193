package dev.rproxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpHeadersFactory;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.AsciiString;
import io.netty.util.ByteProcessor;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The HTTP/1 message parser: one pass over the bytes checks the exact grammar of RFC 9112 and
 * records where each part of a head lies, and the head is built from those positions without a
 * second parse; body bytes are handed on as slices of what was read, never copied.
 *
 * <p>Strict where common parsers (Netty's included) are lenient and normalise, because a proxy that
 * accepts such a message forwards its own reading of it while a server or cache behind or in front
 * of it may read the same bytes differently, the raw material of request smuggling and response
 * splitting. Refused:
 * <ul>
 *   <li>anything but at most one CRLF before the start line (RFC 9112 section 2.2);
 *   <li>a request line other than {@code token SP 1*VCHAR SP "HTTP/" DIGIT "." DIGIT CRLF}, exact
 *       case, one space each; a status line other than {@code "HTTP/" DIGIT "." DIGIT SP 3DIGIT
 *       [SP reason] CRLF}, the reason of tab, space, visible ASCII and obs-text only;
 *   <li>fields other than {@code token ":" value CRLF}, the value of tab, space, visible ASCII and
 *       obs-text; a line that starts with whitespace (obs-fold, RFC 9112 section 5.2); the same for
 *       trailers;
 *   <li>in a request, a {@code Transfer-Encoding} value that is not a comma list of codings written
 *       without tabs and trailing whitespace, or whose final coding is not exactly {@code chunked};
 *       in any message, {@code chunked} applied twice or before another coding, and {@code
 *       Transfer-Encoding} in an HTTP/1.0 message (RFC 9112 section 6.1);
 *   <li>{@code Content-Length} given more than once, or not a plain decimal number; {@code
 *       Content-Length} together with {@code Transfer-Encoding} (RFC 9112 section 6.3);
 *   <li>chunk sizes of more than 16 hex digits or over {@code Integer.MAX_VALUE}; whitespace after a
 *       size that no extension follows; chunk extensions with control bytes; chunk data not
 *       followed by CRLF.
 * </ul>
 * A refused message is emitted as a head (or, once its head went out, a last content) whose
 * decoder result carries the cause, and every later byte is discarded. A start line over {@code
 * maxLineBytes} fails with {@link TooLongHttpLineException}, a field section over {@code
 * maxHeaderBytes} with {@link TooLongHttpHeaderException}.
 *
 * <p>Output, as Netty's decoders emit it, so the rest of the pipeline reads the usual message
 * types: a head ({@link HttpMessage}, headers not validated again), then {@link DefaultHttpContent}
 * slices of at most {@value #MAX_CHUNK} bytes, then a {@link LastHttpContent} (with the trailer
 * fields of a chunked message, except framing fields). A body framed by the end of the connection
 * ends with an empty last content when the input ends. After a switch to another protocol every
 * byte is handed on raw.
 *
 * <p>A head's fields are {@link HeadFields}: positions in one copy of the head's bytes, with no map
 * built and nothing parsed again (trailer fields, rare, go into a map). The
 * position of the byte being checked is counted in {@link #process}; every recorded position is
 * relative to the reader index, where the head being parsed starts and stays until it is complete.
 */
abstract class StrictHttpDecoder extends ByteToMessageDecoder implements ByteProcessor {
    /** Why a message was refused: a plain decoder failure, which maps to 400 or 502. */
    static final class MalformedHttpException extends DecoderException {
        private static final long serialVersionUID = 1L;

        MalformedHttpException(String message) {
            super(message);
        }
    }

    /** Body content slices are at most this large. */
    static final int MAX_CHUNK = 64 * 1024;

    static final HttpHeadersFactory HEADERS = DefaultHttpHeadersFactory.headersFactory().withValidation(false);
    static final HttpHeadersFactory TRAILERS = DefaultHttpHeadersFactory.trailersFactory().withValidation(false);

    private enum State {
        START, START_LF, START_AFTER_CRLF,
        METHOD(true), TARGET_FIRST(true), TARGET(true), VERSION(true), VERSION_MAJOR(true), VERSION_DOT(true),
        VERSION_MINOR(true), REQUEST_LINE_CR,
        STATUS_SP(true), STATUS(true), STATUS_END(true), REASON(true),
        LINE_LF, FIELD_START, NAME, VALUE, END_LF,
        TE_LEADING_SP, TE_CODING, TE_AFTER, TE_LIST_SP, TE_PARAM_SP, TE_PARAM_NAME, TE_PARAM_VALUE,
        TE_PARAM_TOKEN, TE_QUOTED, TE_QUOTED_PAIR, TE_QUOTED_END,
        SIZE_FIRST, SIZE(true), SIZE_BWS(true), EXTENSION(true), SIZE_LF, DATA, DATA_CR, DATA_LF,
        /** A body of a known length: {@link #remaining} bytes to go. */
        FIXED_BODY,
        /** A response body that ends with the connection. */
        CLOSE_DELIMITED_BODY,
        /** The connection switched protocols; nothing is HTTP any more. */
        UPGRADED,
        FAILED;

        /** Bytes read in this state count toward {@code maxLineBytes} (CR excepted). */
        final boolean inLine;

        State() {
            this(false);
        }

        State(boolean inLine) {
            this.inLine = inLine;
        }
    }

    private static final byte[] HTTP_SLASH = {'H', 'T', 'T', 'P', '/'};
    private static final byte[] TRANSFER_ENCODING = AsciiString.of("transfer-encoding").array();
    private static final byte[] CONTENT_LENGTH = AsciiString.of("content-length").array();
    private static final byte[] TRAILER = AsciiString.of("trailer").array();
    private static final byte[] CHUNKED = {'c', 'h', 'u', 'n', 'k', 'e', 'd'};
    private static final int MAX_SIZE_DIGITS = 16;
    private static final boolean[] TCHAR = new boolean[256];

    static {
        for (int c = '0'; c <= '9'; c++) {
            TCHAR[c] = true;
        }
        for (int c = 'a'; c <= 'z'; c++) {
            TCHAR[c] = true;
            TCHAR[c - 'a' + 'A'] = true;
        }
        for (char c : "!#$%&'*+-.^_`|~".toCharArray()) {
            TCHAR[c] = true;
        }
    }

    private final boolean request;
    private final int maxLineBytes;
    private final int maxHeaderBytes;
    private State state = State.START;

    /** The buffer being checked, its reader index, and the index of the byte {@link #process} sees next. */
    private ByteBuf scanning;
    private int scanBase;
    private int cursor;
    /** Bytes past the reader index already checked. */
    private int scanned;

    /** Whether the fields being checked are trailers (they end the message) rather than a head. */
    private boolean trailers;
    /** Position within a literal ({@code HTTP/}, a coding being matched) or a count of digits. */
    private int index;
    private boolean transferEncodingSeen;
    private boolean lastCodingChunked;
    private boolean codingIsChunked;
    private boolean codingHasParameters;
    private long chunkSize;
    /** Bytes left of a fixed-length body or of the chunk being read. */
    private long remaining;
    /** Whether the head of the message being read was emitted, so a failure ends its body. */
    private boolean bodyStarted;
    private Exception violation;

    // Where the parts of the head (or trailer section) being checked lie, from the reader index.
    private int lineStart;
    private int lineBytes;
    private int fieldBytes;
    private int methodEnd;
    private int targetStart;
    private int targetEnd;
    private int major;
    private int minor;
    private int statusCode;
    private int reasonStart;
    private int reasonEnd;
    private int nameStart;
    private int nameEnd;
    private int valueStart;
    private int lastValueByte;
    /** Four positions per field: name start and end, value start and end (trimmed); grows as heads need. */
    private int[] fields = new int[32];
    private int fieldCount;
    /** Field indexes of {@code Content-Length} and {@code Transfer-Encoding}; -1: none. */
    private int contentLengthField;
    private int transferEncodingField;
    private boolean multipleContentLengths;

    /** Nothing read for this long fires {@link IdleStateEvent#READER_IDLE_STATE_EVENT}; 0: never. */
    private final long idleNanos;
    private ChannelHandlerContext idleCtx;
    private ScheduledFuture<?> idleTimer;
    private long lastReadNanos;

    /**
     * @param request        requests (true) or responses
     * @param maxLineBytes   the longest start line (and chunk size line), CRLF not counted
     * @param maxHeaderBytes the largest field section (or trailer section), CRLFs not counted
     * @param idleMs         nothing read from the connection for this long fires a reader-idle
     *                       event inbound (what Netty's {@code IdleStateHandler} does, without a
     *                       handler of its own: one timer per connection, re-armed for the time
     *                       left); 0: never
     */
    StrictHttpDecoder(boolean request, int maxLineBytes, int maxHeaderBytes, long idleMs) {
        this.request = request;
        this.maxLineBytes = maxLineBytes;
        this.maxHeaderBytes = maxHeaderBytes;
        this.idleNanos = TimeUnit.MILLISECONDS.toNanos(idleMs);
        resetHead();
    }

    // ------------------------------------------------------------------ reader idleness

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) throws Exception {
        idleCtx = ctx;
        if (ctx.channel().isActive() && ctx.channel().isRegistered()) {
            startIdleTimer();
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        startIdleTimer();
        super.channelActive(ctx);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) throws Exception {
        lastReadNanos = System.nanoTime();
        super.channelReadComplete(ctx);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        stopIdleTimer();
        super.channelInactive(ctx);
    }

    @Override
    protected void handlerRemoved0(ChannelHandlerContext ctx) throws Exception {
        stopIdleTimer(); // the connection stopped being HTTP (a protocol switch)
    }

    private void startIdleTimer() {
        if (idleNanos > 0 && idleTimer == null) {
            lastReadNanos = System.nanoTime();
            idleTimer = idleCtx.executor().schedule(this::checkIdle, idleNanos, TimeUnit.NANOSECONDS);
        }
    }

    private void stopIdleTimer() {
        if (idleTimer != null) {
            idleTimer.cancel(false);
            idleTimer = null;
        }
    }

    private void checkIdle() {
        if (idleTimer == null || !idleCtx.channel().isOpen()) {
            return;
        }
        long left = idleNanos - (System.nanoTime() - lastReadNanos);
        if (left > 0) {
            idleTimer = idleCtx.executor().schedule(this::checkIdle, left, TimeUnit.NANOSECONDS);
        } else {
            idleTimer = idleCtx.executor().schedule(this::checkIdle, idleNanos, TimeUnit.NANOSECONDS);
            idleCtx.fireUserEventTriggered(IdleStateEvent.READER_IDLE_STATE_EVENT);
        }
    }

    // ------------------------------------------------------------------ what the codecs decide

    /**
     * The message from a head checked to its end: {@code head} holds its bytes from offset 0 (the
     * offsets passed are into it), {@code headers} its fields.
     */
    abstract HttpMessage newRequest(byte[] head, int methodStart, int methodEnd, int targetStart, int targetEnd,
            HttpVersion version, HttpHeaders headers);

    abstract HttpMessage newResponse(HttpVersion version, int status, byte[] head, int reasonStart, int reasonEnd,
            HttpHeaders headers);

    /** A message in place of a head that could not be read. */
    abstract HttpMessage invalidHead();

    /** Whether {@code message} has no body whatever its framing fields say (HEAD, 1xx, 204, 304). */
    abstract boolean bodyAlwaysEmpty(HttpMessage message);

    /** After {@code message} and its body, the connection speaks another protocol. */
    boolean switchesProtocol(HttpMessage message) {
        return false;
    }

    /**
     * Called for each head as it is emitted, a failed one included; a codec that refuses it marks
     * it failed, calls {@link #discardFromNowOn()} and returns false.
     */
    boolean admit(HttpMessage message) {
        return true;
    }

    /** Called when the first byte of a head is parsed. */
    void headStarted() {}

    /** Called after the last content of each message was emitted. */
    void messageEnded() {}

    /** Whether decoding waits (input stays unread) until the codec resumes it. */
    boolean holding() {
        return false;
    }

    /** Whether a failure was emitted: every later byte is discarded. */
    final boolean failed() {
        return state == State.FAILED;
    }

    // ------------------------------------------------------------------ decoding

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        while (in.isReadable() && !holding()) {
            switch (state) {
                case FAILED:
                    in.skipBytes(in.readableBytes());
                    return;
                case UPGRADED:
                    out.add(in.readRetainedSlice(in.readableBytes()));
                    return;
                case FIXED_BODY: {
                    int n = (int) Math.min(Math.min(remaining, in.readableBytes()), MAX_CHUNK);
                    ByteBuf part = in.readRetainedSlice(n);
                    remaining -= n;
                    if (remaining == 0) {
                        out.add(new DefaultLastHttpContent(part, EmptyHttpHeaders.INSTANCE)); // no trailers
                        endMessage();
                    } else {
                        out.add(new DefaultHttpContent(part));
                    }
                    break;
                }
                case CLOSE_DELIMITED_BODY:
                    out.add(new DefaultHttpContent(in.readRetainedSlice(Math.min(in.readableBytes(), MAX_CHUNK))));
                    break;
                case DATA: {
                    int n = (int) Math.min(Math.min(remaining, in.readableBytes()), MAX_CHUNK);
                    out.add(new DefaultHttpContent(in.readRetainedSlice(n)));
                    remaining -= n;
                    if (remaining == 0) {
                        state = State.DATA_CR;
                    }
                    break;
                }
                default:
                    if (!scan(in, out)) {
                        return; // more bytes needed
                    }
            }
        }
    }

    /**
     * Checks the bytes not checked yet until a step completes (a head, a chunk size line, a trailer
     * section) and acts on it; false when the readable bytes end first.
     */
    private boolean scan(ByteBuf in, List<Object> out) {
        int base = in.readerIndex();
        int end = in.writerIndex();
        scanning = in;
        scanBase = base;
        cursor = base + scanned;
        int stop = in.forEachByte(cursor, end - cursor, this);
        scanning = null;
        if (violation != null) {
            fail(in, out);
            return false;
        }
        if (stop < 0) {
            scanned = end - base;
            return false;
        }
        scanned = 0;
        switch (state) {
            case DATA:
                in.readerIndex(stop + 1); // the chunk size line
                remaining = chunkSize;
                return true;
            case FIELD_START:
                in.readerIndex(stop + 1); // the last chunk's size line: its trailers follow
                resetHead();
                trailers = true;
                return true;
            case FIXED_BODY: // a head (END_LF moved on to the state its body needs)
                return head(in, stop + 1 - base, out);
            case START: // a trailer section
                out.add(trailerSection(in, stop + 1 - base));
                in.readerIndex(stop + 1);
                endMessage();
                return true;
            default:
                throw new IllegalStateException(state.name());
        }
    }

    /** Builds and emits the head that ends {@code length} bytes from the reader index. */
    private boolean head(ByteBuf in, int length, List<Object> out) {
        byte[] bytes = new byte[length];
        in.getBytes(in.readerIndex(), bytes);
        HttpHeaders headers = new HeadFields(bytes, Arrays.copyOf(fields, fieldCount * 4), fieldCount, length - 2);
        HttpVersion version = major == 1 && minor == 1 ? HttpVersion.HTTP_1_1
                : major == 1 && minor == 0 ? HttpVersion.HTTP_1_0
                : new HttpVersion("HTTP", major, minor, false);
        HttpMessage message = request
                ? newRequest(bytes, lineStart, methodEnd, targetStart, targetEnd, version, headers)
                : newResponse(version, statusCode, bytes, reasonStart, reasonEnd, headers);
        in.skipBytes(length);
        long length0;
        try {
            length0 = contentLength(bytes);
        } catch (IllegalArgumentException e) {
            return refuse(in, out, message, e);
        }
        boolean chunked = false;
        if (transferEncodingField >= 0) {
            String wrong = major < 1 || (major == 1 && minor == 0)
                    ? "Transfer-Encoding in an HTTP/1.0 message" // RFC 9112 section 6.1
                    : length0 >= 0 ? lengthAndChunked().getMessage() : checkCodings(bytes);
            if (wrong != null) {
                return refuse(in, out, message, new MalformedHttpException(wrong));
            }
            chunked = request || finalCodingIsChunked(bytes);
        }
        resetHead();
        out.add(message);
        if (!admit(message)) {
            in.skipBytes(in.readableBytes());
            return false;
        }
        boolean switching = !request && switchesProtocol(message);
        bodyStarted = true;
        if (bodyAlwaysEmpty(message) || (request && !chunked && length0 <= 0) || length0 == 0) {
            out.add(LastHttpContent.EMPTY_LAST_CONTENT);
            endMessage();
            if (switching) {
                state = State.UPGRADED;
            }
        } else if (chunked) {
            state = State.SIZE_FIRST;
        } else if (length0 > 0) {
            state = State.FIXED_BODY;
            remaining = length0;
        } else {
            state = State.CLOSE_DELIMITED_BODY;
        }
        return true;
    }

    /** The value of the one {@code Content-Length} field; -1 when there is none. */
    private long contentLength(byte[] head) {
        if (contentLengthField < 0) {
            return -1;
        }
        if (multipleContentLengths) {
            throw new IllegalArgumentException("Multiple Content-Length values found");
        }
        int f = contentLengthField * 4;
        int from = fields[f + 2];
        int to = fields[f + 3];
        if (from == to || to - from > 18) {
            throw new IllegalArgumentException("Invalid Content-Length value");
        }
        long value = 0;
        for (int i = from; i < to; i++) {
            int d = head[i] - '0';
            if (d < 0 || d > 9) {
                throw new IllegalArgumentException("Invalid Content-Length value");
            }
            value = value * 10 + d;
        }
        return value;
    }

    /**
     * Why the codings of the {@code Transfer-Encoding} fields are refused, or {@code null}: chunked
     * more than once, or chunked anywhere but last (RFC 9112 section 6.1).
     */
    private String checkCodings(byte[] head) {
        int chunked = 0;
        boolean chunkedLast = false;
        for (int i = 0, f = 0; i < fieldCount; i++, f += 4) {
            if (!isName(head, f, TRANSFER_ENCODING)) {
                continue;
            }
            int from = fields[f + 2];
            int to = fields[f + 3];
            int start = from;
            for (int p = from; p <= to; p++) {
                if (p == to || head[p] == ',') {
                    int a = start;
                    int b = p;
                    while (a < b && (head[a] == ' ' || head[a] == '\t')) {
                        a++;
                    }
                    while (b > a && (head[b - 1] == ' ' || head[b - 1] == '\t')) {
                        b--;
                    }
                    if (b > a) {
                        chunkedLast = equalsLower(head, a, b, CHUNKED);
                        chunked += chunkedLast ? 1 : 0;
                    }
                    start = p + 1;
                }
            }
        }
        if (chunked > 1) {
            return "chunked transfer coding applied more than once";
        }
        if (chunked == 1 && !chunkedLast) {
            return "chunked is not the final transfer coding";
        }
        return null;
    }

    private static boolean equalsLower(byte[] bytes, int from, int to, byte[] lowerName) {
        if (to - from != lowerName.length) {
            return false;
        }
        for (int i = 0; i < lowerName.length; i++) {
            if (lower(bytes[from + i]) != lowerName[i]) {
                return false;
            }
        }
        return true;
    }

    /** Whether the last coding of the last {@code Transfer-Encoding} field is {@code chunked}. */
    private boolean finalCodingIsChunked(byte[] head) {
        int f = transferEncodingField * 4;
        int from = fields[f + 2];
        int to = fields[f + 3];
        int start = to;
        while (start > from && head[start - 1] != ',') {
            start--;
        }
        while (start < to && (head[start] == ' ' || head[start] == '\t')) {
            start++;
        }
        if (to - start != CHUNKED.length) {
            return false;
        }
        for (int i = 0; i < CHUNKED.length; i++) {
            if (lower(head[start + i]) != CHUNKED[i]) {
                return false;
            }
        }
        return true;
    }

    /** The last content carrying a trailer section {@code length} bytes long. */
    private LastHttpContent trailerSection(ByteBuf in, int length) {
        if (fieldCount == 0) {
            return LastHttpContent.EMPTY_LAST_CONTENT;
        }
        byte[] bytes = new byte[length];
        in.getBytes(in.readerIndex(), bytes);
        LastHttpContent last = new DefaultLastHttpContent(Unpooled.EMPTY_BUFFER, TRAILERS);
        for (int i = 0, f = 0; i < fieldCount; i++, f += 4) {
            if (isName(bytes, f, CONTENT_LENGTH) || isName(bytes, f, TRANSFER_ENCODING) || isName(bytes, f, TRAILER)) {
                continue; // framing is the message's, never a trailer's (RFC 9110 section 6.5.1)
            }
            last.trailingHeaders().add(new AsciiString(bytes, fields[f], fields[f + 1] - fields[f], false),
                    new AsciiString(bytes, fields[f + 2], fields[f + 3] - fields[f + 2], false));
        }
        return last;
    }

    private boolean isName(byte[] bytes, int f, byte[] lowerName) {
        return equalsLower(bytes, fields[f], fields[f + 1], lowerName);
    }

    private void endMessage() {
        bodyStarted = false;
        trailers = false;
        state = State.START;
        resetHead();
        messageEnded();
    }

    private void resetHead() {
        fieldCount = 0;
        contentLengthField = -1;
        transferEncodingField = -1;
        multipleContentLengths = false;
        transferEncodingSeen = false;
        lastCodingChunked = false;
        lineBytes = 0;
        fieldBytes = 0;
        statusCode = 0;
    }

    /**
     * Emits {@code message} failed with {@code cause} in place of the message, and discards every
     * later byte.
     */
    private boolean refuse(ByteBuf in, List<Object> out, HttpMessage message, Exception cause) {
        message.setDecoderResult(DecoderResult.failure(cause));
        out.add(message);
        admit(message);
        state = State.FAILED;
        in.skipBytes(in.readableBytes());
        return false;
    }

    /** Discards every later byte, for a refusal decided by the codec. */
    final void discardFromNowOn() {
        state = State.FAILED;
    }

    private void fail(ByteBuf in, List<Object> out) {
        Exception cause = violation;
        violation = null;
        // As Netty does: a broken head in place of the head, a broken body as its (failed) end.
        if (bodyStarted) {
            HttpObject invalid = new DefaultLastHttpContent(Unpooled.EMPTY_BUFFER);
            invalid.setDecoderResult(DecoderResult.failure(cause));
            out.add(invalid);
        } else {
            HttpMessage invalid = invalidHead();
            invalid.setDecoderResult(DecoderResult.failure(cause));
            out.add(invalid);
            admit(invalid);
        }
        state = State.FAILED;
        in.skipBytes(in.readableBytes());
    }

    @Override
    protected void decodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
        if (in.isReadable()) {
            decode(ctx, in, out);
        }
        switch (state) {
            case CLOSE_DELIMITED_BODY:
                out.add(LastHttpContent.EMPTY_LAST_CONTENT); // the end of the connection ends the body
                endMessage();
                break;
            case LINE_LF, FIELD_START, NAME, VALUE, END_LF, TE_LEADING_SP, TE_CODING, TE_AFTER, TE_LIST_SP,
                    TE_PARAM_SP, TE_PARAM_NAME, TE_PARAM_VALUE, TE_PARAM_TOKEN, TE_QUOTED, TE_QUOTED_PAIR,
                    TE_QUOTED_END:
                if (!trailers && !holding()) {
                    HttpMessage invalid = invalidHead();
                    invalid.setDecoderResult(DecoderResult.failure(
                            new PrematureChannelClosureException("Connection closed before received headers")));
                    out.add(invalid);
                    admit(invalid);
                    state = State.FAILED;
                }
                break;
            default:
                // A body cut short ends no message: the connection's end tells its reader.
                break;
        }
    }

    /**
     * Both {@code Content-Length} and chunked framing: always a failure here (RFC 9112 section 6.3
     * lets a recipient treat it as an error; a proxy that forwards either reading invites
     * smuggling).
     */
    static IllegalArgumentException lengthAndChunked() {
        return new IllegalArgumentException("Content-Length and Transfer-Encoding: chunked in one message");
    }

    // ------------------------------------------------------------------ the grammar, byte by byte

    private boolean violation(String why) {
        return violation(new MalformedHttpException(why));
    }

    private boolean violation(Exception cause) {
        violation = cause;
        state = State.FAILED;
        return false;
    }

    @Override
    public boolean process(byte value) {
        int b = value & 0xff;
        int at = cursor++ - scanBase;
        if (state.inLine && b != '\r' && ++lineBytes > maxLineBytes) {
            return lineTooLong(); // a start line or chunk size line, CRLF not counted
        }
        switch (state) {
            case START:
                headStarted();
                if (b == '\r') {
                    state = State.START_LF;
                    return true;
                }
                return startLine(b, at);
            case START_LF:
                if (b != '\n') {
                    return violation("CR without LF before the start line");
                }
                state = State.START_AFTER_CRLF;
                return true;
            case START_AFTER_CRLF:
                if (b == '\r' || b == '\n') {
                    return violation("more than one empty line before the start line");
                }
                return startLine(b, at);
            case METHOD:
                if (b == ' ') {
                    methodEnd = at;
                    state = State.TARGET_FIRST;
                    return true;
                }
                return TCHAR[b] || violation("invalid byte 0x" + Integer.toHexString(b) + " in the method");
            case TARGET_FIRST:
                if (!isVisible(b)) {
                    return violation("the request target must follow the method after one space");
                }
                targetStart = at;
                state = State.TARGET;
                return true;
            case TARGET:
                if (b == ' ') {
                    targetEnd = at;
                    state = State.VERSION;
                    index = 0;
                    return true;
                }
                return isVisible(b) || violation("invalid byte 0x" + Integer.toHexString(b) + " in the request target");
            case VERSION:
                if (b != HTTP_SLASH[index]) {
                    return violation("the version must be HTTP/x.y, upper case, after one space");
                }
                if (++index == HTTP_SLASH.length) {
                    state = State.VERSION_MAJOR;
                }
                return true;
            case VERSION_MAJOR:
                major = b - '0';
                state = State.VERSION_DOT;
                return isDigit(b) || violation("invalid version");
            case VERSION_DOT:
                state = State.VERSION_MINOR;
                return b == '.' || violation("invalid version");
            case VERSION_MINOR:
                minor = b - '0';
                state = request ? State.REQUEST_LINE_CR : State.STATUS_SP;
                return isDigit(b) || violation("invalid version");
            case REQUEST_LINE_CR:
                state = State.LINE_LF;
                return b == '\r' || violation("the request line must end with the version and CRLF");
            case STATUS_SP:
                state = State.STATUS;
                index = 0;
                return b == ' ' || violation("the status code must follow the version after one space");
            case STATUS:
                statusCode = statusCode * 10 + (b - '0');
                if (++index == 3) {
                    state = State.STATUS_END;
                }
                return isDigit(b) || violation("the status code must be three digits");
            case STATUS_END:
                if (b == '\r') {
                    reasonStart = at;
                    reasonEnd = at;
                    state = State.LINE_LF;
                    return true;
                }
                reasonStart = at + 1;
                state = State.REASON;
                return b == ' ' || violation("the status code must be three digits");
            case REASON:
                if (b == '\r') {
                    reasonEnd = at;
                    state = State.LINE_LF;
                    return true;
                }
                return isFieldByte(b) || violation("invalid byte 0x" + Integer.toHexString(b) + " in the reason phrase");
            case LINE_LF:
                state = State.FIELD_START;
                return b == '\n' || violation("CR without LF");
            case FIELD_START:
                if (b == '\r') {
                    state = State.END_LF;
                    return true;
                }
                if (b == ' ' || b == '\t') {
                    return violation("a field line starts with whitespace (obs-fold)");
                }
                if (!TCHAR[b]) {
                    return violation("invalid byte 0x" + Integer.toHexString(b) + " in a field name");
                }
                if (++fieldBytes > maxHeaderBytes) {
                    return headerTooLarge();
                }
                nameStart = at;
                state = State.NAME;
                return true;
            case NAME:
                if (++fieldBytes > maxHeaderBytes) {
                    return headerTooLarge();
                }
                if (b == ':') {
                    nameEnd = at;
                    valueStart = -1;
                    if (request && !trailers && nameIs(TRANSFER_ENCODING)) {
                        state = State.TE_LEADING_SP;
                        transferEncodingSeen = true;
                    } else {
                        state = State.VALUE;
                    }
                    return true;
                }
                return TCHAR[b] || violation("invalid byte 0x" + Integer.toHexString(b) + " in a field name");
            case VALUE:
                if (b == '\r') {
                    field(valueStart < 0 ? at : valueStart, valueStart < 0 ? at : lastValueByte + 1);
                    state = State.LINE_LF;
                    return true;
                }
                if (++fieldBytes > maxHeaderBytes) {
                    return headerTooLarge();
                }
                if (b != ' ' && b != '\t') {
                    if (valueStart < 0) {
                        valueStart = at;
                    }
                    lastValueByte = at;
                }
                return isFieldByte(b) || violation("invalid byte 0x" + Integer.toHexString(b) + " in a field value");
            case END_LF:
                if (b != '\n') {
                    return violation("CR without LF");
                }
                if (trailers) {
                    state = State.START;
                    return false;
                }
                if (transferEncodingSeen && !lastCodingChunked) {
                    return violation("the final transfer coding is not exactly chunked");
                }
                state = State.FIXED_BODY; // a head is complete; which body follows is decided from it
                return false;
            case TE_LEADING_SP:
                if (b == ' ') {
                    return countField();
                }
                return transferCoding(b, at);
            case TE_CODING:
                if (TCHAR[b]) {
                    matchCoding(b);
                    return countField();
                }
                return afterCodingPart(b, at);
            case TE_PARAM_TOKEN:
                return TCHAR[b] ? countField() : afterCodingPart(b, at);
            case TE_AFTER:
                if (b == ' ') {
                    return countField();
                }
                if (b == ',' || b == ';') {
                    return afterCodingPart(b, at);
                }
                return violation(b == '\r' ? "whitespace after the Transfer-Encoding value" : "whitespace inside a transfer coding");
            case TE_LIST_SP:
                if (b == ' ') {
                    return countField();
                }
                return transferCoding(b, at);
            case TE_PARAM_SP:
                if (b == ' ') {
                    return countField();
                }
                state = State.TE_PARAM_NAME;
                return TCHAR[b] ? countField() : violation("invalid transfer coding parameter");
            case TE_PARAM_NAME:
                if (b == '=') {
                    state = State.TE_PARAM_VALUE;
                    return countField();
                }
                return TCHAR[b] ? countField() : violation("invalid transfer coding parameter");
            case TE_PARAM_VALUE:
                if (b == '"') {
                    state = State.TE_QUOTED;
                    return countField();
                }
                state = State.TE_PARAM_TOKEN;
                return TCHAR[b] ? countField() : violation("invalid transfer coding parameter");
            case TE_QUOTED:
                if (b == '"') {
                    state = State.TE_QUOTED_END;
                    return countField();
                }
                if (b == '\\') {
                    state = State.TE_QUOTED_PAIR;
                    return countField();
                }
                return isFieldByte(b) ? countField() : violation("invalid transfer coding parameter");
            case TE_QUOTED_END:
                return afterCodingPart(b, at);
            case TE_QUOTED_PAIR:
                state = State.TE_QUOTED;
                return isFieldByte(b) ? countField() : violation("invalid transfer coding parameter");
            case SIZE_FIRST:
                chunkSize = 0;
                index = 0;
                lineBytes = 1;
                state = State.SIZE;
                return hexDigit(b);
            case SIZE:
                if (b == '\r') {
                    state = State.SIZE_LF;
                    return true;
                }
                if (b == ';') {
                    state = State.EXTENSION;
                    return true;
                }
                if (b == ' ' || b == '\t') {
                    state = State.SIZE_BWS; // whitespace only before an extension (RFC 9112 section 7.1.1)
                    return true;
                }
                return hexDigit(b);
            case SIZE_BWS:
                if (b == ';') {
                    state = State.EXTENSION;
                    return true;
                }
                return b == ' ' || b == '\t' || violation("whitespace after the chunk size without an extension");
            case EXTENSION:
                if (b == '\r') {
                    state = State.SIZE_LF;
                    return true;
                }
                return isFieldByte(b) || violation("invalid byte 0x" + Integer.toHexString(b) + " in a chunk extension");
            case SIZE_LF:
                if (b != '\n') {
                    return violation("CR without LF after the chunk size");
                }
                state = chunkSize == 0 ? State.FIELD_START : State.DATA;
                return false; // the data is handed on by count; trailers are parsed from their start
            case DATA_CR:
                state = State.DATA_LF;
                return b == '\r' || violation("chunk data not followed by CRLF");
            case DATA_LF:
                state = State.SIZE_FIRST;
                return b == '\n' || violation("chunk data not followed by CRLF");
            default:
                throw new IllegalStateException(state.name());
        }
    }

    private boolean startLine(int b, int at) {
        lineStart = at;
        lineBytes = 1;
        if (request) {
            state = State.METHOD;
            return TCHAR[b] || violation("invalid byte 0x" + Integer.toHexString(b) + " before or in the method");
        }
        state = State.VERSION;
        index = 0;
        lineBytes = 0;
        cursor--; // the byte is checked again as the first of the version
        return process((byte) b);
    }

    /** Records the field whose name ended at {@link #nameEnd}, its value from {@code from} to {@code to}. */
    private void field(int from, int to) {
        int f = fieldCount * 4;
        if (f == fields.length) {
            fields = java.util.Arrays.copyOf(fields, f * 2);
        }
        fields[f] = nameStart;
        fields[f + 1] = nameEnd;
        fields[f + 2] = from;
        fields[f + 3] = to;
        if (!trailers) {
            if (nameIs(CONTENT_LENGTH)) {
                multipleContentLengths |= contentLengthField >= 0;
                contentLengthField = fieldCount;
            } else if (nameIs(TRANSFER_ENCODING)) {
                transferEncodingField = fieldCount;
            }
        }
        fieldCount++;
    }

    /** Whether the field name from {@link #nameStart} to {@link #nameEnd} is {@code lowerName}. */
    private boolean nameIs(byte[] lowerName) {
        if (nameEnd - nameStart != lowerName.length) {
            return false;
        }
        int base = scanBase + nameStart;
        for (int i = 0; i < lowerName.length; i++) {
            if (lower(scanning.getByte(base + i)) != lowerName[i]) {
                return false;
            }
        }
        return true;
    }

    private boolean countField() {
        return ++fieldBytes <= maxHeaderBytes || headerTooLarge();
    }

    private boolean lineTooLong() {
        return violation(new TooLongHttpLineException("An HTTP line is larger than " + maxLineBytes + " bytes."));
    }

    private boolean headerTooLarge() {
        return violation(new TooLongHttpHeaderException("HTTP header is larger than " + maxHeaderBytes + " bytes."));
    }

    /** The first byte of a coding in a {@code Transfer-Encoding} list. */
    private boolean transferCoding(int b, int at) {
        if (!TCHAR[b]) {
            return violation(b == '\t' ? "tab in Transfer-Encoding" : "invalid Transfer-Encoding list");
        }
        if (valueStart < 0) {
            valueStart = at;
        }
        state = State.TE_CODING;
        index = 0;
        codingIsChunked = true;
        codingHasParameters = false;
        matchCoding(b);
        return countField();
    }

    private void matchCoding(int b) {
        if (codingIsChunked) {
            codingIsChunked = index < CHUNKED.length && lower(b) == CHUNKED[index];
        }
        index++;
    }

    /** After a coding name or a parameter value: a separator, whitespace before one, or the end. */
    private boolean afterCodingPart(int b, int at) {
        switch (b) {
            case ' ':
                state = State.TE_AFTER;
                return countField();
            case ',':
                state = State.TE_LIST_SP;
                return countField();
            case ';':
                codingHasParameters = true;
                state = State.TE_PARAM_SP;
                return countField();
            case '\r':
                lastCodingChunked = !codingHasParameters && codingIsChunked && index == CHUNKED.length;
                field(valueStart, at);
                state = State.LINE_LF;
                return true;
            default:
                return violation(b == '\t' ? "tab in Transfer-Encoding" : "invalid Transfer-Encoding list");
        }
    }

    private boolean hexDigit(int b) {
        int digit = Character.digit(b, 16);
        if (digit < 0) {
            return violation("invalid chunk size");
        }
        if (++index > MAX_SIZE_DIGITS) {
            return violation("chunk size with more than " + MAX_SIZE_DIGITS + " hex digits");
        }
        chunkSize = chunkSize * 16 + digit;
        if (chunkSize > Integer.MAX_VALUE) {
            return violation("chunk size too large");
        }
        return true;
    }

    private static int lower(int b) {
        return b >= 'A' && b <= 'Z' ? b + ('a' - 'A') : b;
    }

    private static boolean isDigit(int b) {
        return b >= '0' && b <= '9';
    }

    /** VCHAR: visible US-ASCII. */
    private static boolean isVisible(int b) {
        return b > 0x20 && b < 0x7f;
    }

    /** What a field value, reason phrase or quoted string may hold: tab, space, VCHAR, obs-text. */
    private static boolean isFieldByte(int b) {
        return b == '\t' || (b >= 0x20 && b != 0x7f);
    }
}
