package dev.rproxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.DecoderResultProvider;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ByteProcessor;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The exact HTTP/1.1 message grammar (RFC 9112), checked over the raw bytes before Netty's decoder
 * parses them, for the cases where that decoder is lenient and normalises: Netty skips any run of
 * CR, LF and whitespace before a start line, splits the start line on any run of spaces and tabs,
 * accepts a lower-case {@code http/1.1}, unfolds obs-fold lines, trims whitespace around a
 * {@code Transfer-Encoding} value, and reads a chunk size with any number of leading zeros. A proxy
 * that accepts such a message forwards its own, normalised reading of it, while a server or cache
 * behind or in front of it may read the same bytes differently: the raw material of request
 * smuggling and response splitting. So this scanner refuses them, and Netty still does the parsing.
 *
 * <p>What it enforces, for a request ({@code request == true}) or a response:
 * <ul>
 *   <li>at most one CRLF before the start line (RFC 9112 section 2.2), nothing else;
 *   <li>request line: {@code token SP 1*VCHAR SP "HTTP/" DIGIT "." DIGIT CRLF}, exact case, one space
 *       each; status line: {@code "HTTP/" DIGIT "." DIGIT SP 3DIGIT [SP reason] CRLF}, the reason of
 *       tab, space, visible ASCII and obs-text only;
 *   <li>fields: {@code token ":" value CRLF}, the value of tab, space, visible ASCII and obs-text;
 *       no line that starts with whitespace (obs-fold, RFC 9112 section 5.2); the same for trailers;
 *   <li>in a request, each {@code Transfer-Encoding} value is a comma list of codings written
 *       without tabs and without trailing whitespace, and the last field's final coding is exactly
 *       {@code chunked} (whitespace there is how a value is obfuscated to read differently elsewhere);
 *   <li>chunk sizes: 1 to 16 hex digits, value at most {@code Integer.MAX_VALUE} (Netty's limit);
 *       chunk extensions free of control bytes, the chunk data followed by CRLF.
 * </ul>
 * Anything Netty rejects on its own (lengths, header limits, Content-Length rules) is left to it.
 *
 * <p>How it runs: the decoder that owns it routes each decode call through {@link #decode}, which
 * checks the new bytes first and lets Netty decode only when they pass. The scanner keeps how far past the reader index it has
 * checked; that offset is stable while the cumulation buffer is compacted or replaced, and shrinks by
 * what Netty consumed. It scans a head to its end, then waits until Netty has emitted that head, to
 * learn from it whether a body follows (Netty knows about HEAD, 1xx, 204 and 304) and how it is
 * framed. A chunked body is scanned ahead of Netty, each chunk's data skipped by count rather than
 * read; a length- or close-delimited body is not scanned at all. Nothing is buffered or copied.
 */
final class StrictHttpScanner implements ByteProcessor {
    /** Why a message was refused: a plain decoder failure, which maps to 400 or 502. */
    static final class MalformedHttpException extends DecoderException {
        private static final long serialVersionUID = 1L;

        MalformedHttpException(String message) {
            super(message);
        }
    }

    private enum State {
        START, START_LF, START_AFTER_CRLF,
        METHOD, TARGET_FIRST, TARGET, VERSION, VERSION_MAJOR, VERSION_DOT, VERSION_MINOR, REQUEST_LINE_CR,
        STATUS_SP, STATUS, STATUS_END, REASON,
        LINE_LF, FIELD_START, NAME, VALUE, END_LF,
        TE_LEADING_SP, TE_CODING, TE_AFTER, TE_LIST_SP, TE_PARAM_SP, TE_PARAM_NAME, TE_PARAM_VALUE,
        TE_PARAM_TOKEN, TE_QUOTED, TE_QUOTED_PAIR, TE_QUOTED_END,
        SIZE_FIRST, SIZE, EXTENSION, SIZE_LF, DATA, DATA_CR, DATA_LF,
        /** A head was scanned to its end; Netty has yet to emit it. */
        AWAIT_HEAD,
        /** A chunked body was scanned to its end; Netty has yet to emit its last part. */
        AWAIT_END,
        /** A length- or close-delimited body, left to Netty. */
        BODY,
        /** The connection switched protocols; nothing is HTTP any more. */
        PASS_THROUGH,
        FAILED
    }

    private static final byte[] HTTP_SLASH = {'H', 'T', 'T', 'P', '/'};
    private static final byte[] TRANSFER_ENCODING = "transfer-encoding".getBytes(StandardCharsets.US_ASCII);
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
    private final Owner owner;
    private State state = State.START;
    /** Bytes past the reader index already checked. */
    private int scanned;
    /** Whether the fields being scanned are trailers (end: the message) rather than a head. */
    private boolean trailers;
    /** Position within a literal ({@code HTTP/}, a field name being matched) or a count of digits. */
    private int index;
    private boolean nameIsTransferEncoding;
    private boolean transferEncodingSeen;
    private boolean lastCodingChunked;
    private boolean codingIsChunked;
    private boolean codingHasParameters;
    private long chunkSize;
    /** Whether the head of the message being scanned was emitted, so a failure ends its body. */
    private boolean bodyStarted;
    private String violation;

    StrictHttpScanner(boolean request, Owner owner) {
        this.request = request;
        this.owner = owner;
    }

    /** Whether a violation was found or Netty's decoder failed: every later byte is discarded. */
    boolean failed() {
        return state == State.FAILED;
    }

    /** Discards every later byte, for a refusal decided by the owner. */
    void discardFromNowOn() {
        state = State.FAILED;
    }

    /** From now on nothing is checked (the response switched to another protocol). */
    void passThrough() {
        if (state != State.FAILED) {
            state = State.PASS_THROUGH;
        }
    }

    /** The Netty decoder this scanner stands in front of: its own steps, reached past the override. */
    interface Owner {
        void nettyDecode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception;

        void nettyDecodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception;

        /** A message in place of a head that could not be read, as Netty makes one. */
        HttpMessage invalidHead();
    }

    /**
     * One decode call of the owning decoder: checks the new bytes, then lets Netty decode them and
     * learns from what it emitted. On a violation, emits the failure instead and discards all input,
     * now and from then on, as Netty does after a failure of its own.
     */
    void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
        if (state == State.FAILED) {
            in.skipBytes(in.readableBytes());
            return;
        }
        if (state != State.PASS_THROUGH) {
            HttpObject invalid = scan(in);
            if (invalid != null) {
                in.skipBytes(in.readableBytes());
                out.add(invalid);
                return;
            }
        }
        int start = in.readerIndex();
        int from = out.size();
        owner.nettyDecode(ctx, in, out);
        if (state != State.PASS_THROUGH) {
            decoded(in.readerIndex() - start, out, from);
        }
    }

    /**
     * The owning decoder's last call, when the input ends: after a failure was emitted, the rest is
     * discarded without a second one; otherwise Netty finishes.
     */
    void decodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
        if (failed()) {
            in.skipBytes(in.readableBytes());
            return;
        }
        owner.nettyDecodeLast(ctx, in, out);
    }

    /**
     * Both {@code Content-Length} and chunked framing: always a failure here, whatever Netty's RFC
     * 9112 switch (which may let chunked win) says.
     */
    static IllegalArgumentException lengthAndChunked() {
        return new IllegalArgumentException("Content-Length and Transfer-Encoding: chunked in one message");
    }

    /**
     * Checks the readable bytes not checked before. On a violation returns what to emit in place
     * of the message (the owner's invalid head or a last content, each carrying the failure), after
     * which the caller discards all input; otherwise {@code null}.
     */
    private HttpObject scan(ByteBuf in) {
        int base = in.readerIndex();
        int end = in.writerIndex();
        int pos = base + scanned;
        while (pos < end && isScanning()) {
            if (state == State.DATA) {
                long n = Math.min(chunkSize, end - pos);
                pos += (int) n;
                chunkSize -= n;
                if (chunkSize == 0) {
                    state = State.DATA_CR;
                }
                continue;
            }
            int stop = in.forEachByte(pos, end - pos, this);
            pos = stop < 0 ? end : stop + 1;
        }
        scanned = pos - base;
        if (violation == null) {
            return null;
        }
        // As Netty does: a broken head in place of the head, a broken body as its (failed) end.
        HttpObject invalid = bodyStarted ? new DefaultLastHttpContent(Unpooled.EMPTY_BUFFER) : owner.invalidHead();
        invalid.setDecoderResult(DecoderResult.failure(new MalformedHttpException(violation)));
        return invalid;
    }

    private boolean isScanning() {
        return switch (state) {
            case AWAIT_HEAD, AWAIT_END, BODY, PASS_THROUGH, FAILED -> false;
            default -> true;
        };
    }

    /**
     * Learns from what Netty consumed ({@code consumed} bytes) and emitted ({@code out} from index
     * {@code from}) where the message being decoded stands.
     */
    private void decoded(int consumed, List<Object> out, int from) {
        scanned = Math.max(0, scanned - consumed);
        for (int i = from; i < out.size() && state != State.FAILED && state != State.PASS_THROUGH; i++) {
            Object msg = out.get(i);
            if (msg instanceof DecoderResultProvider p && p.decoderResult().isFailure()) {
                state = State.FAILED; // Netty refused it, and discards the rest itself
                return;
            }
            if (msg instanceof HttpMessage head) {
                bodyStarted = true;
                if (HttpUtil.isTransferEncodingChunked(head)) {
                    startChunkedBody();
                } else {
                    state = State.BODY;
                }
            }
            if (msg instanceof LastHttpContent) {
                bodyStarted = false;
                trailers = false;
                state = State.START;
            }
        }
    }

    private void startChunkedBody() {
        state = State.SIZE_FIRST;
        trailers = false;
    }

    private boolean fail(String why) {
        violation = why;
        state = State.FAILED;
        return false;
    }

    @Override
    public boolean process(byte value) {
        int b = value & 0xff;
        switch (state) {
            case START:
                if (b == '\r') {
                    state = State.START_LF;
                    return true;
                }
                return startLine(b);
            case START_LF:
                if (b != '\n') {
                    return fail("CR without LF before the start line");
                }
                state = State.START_AFTER_CRLF;
                return true;
            case START_AFTER_CRLF:
                if (b == '\r' || b == '\n') {
                    return fail("more than one empty line before the start line");
                }
                return startLine(b);
            case METHOD:
                if (b == ' ') {
                    state = State.TARGET_FIRST;
                    return true;
                }
                return TCHAR[b] || fail("invalid byte 0x" + Integer.toHexString(b) + " in the method");
            case TARGET_FIRST:
                if (!isVisible(b)) {
                    return fail("the request target must follow the method after one space");
                }
                state = State.TARGET;
                return true;
            case TARGET:
                if (b == ' ') {
                    state = State.VERSION;
                    index = 0;
                    return true;
                }
                return isVisible(b) || fail("invalid byte 0x" + Integer.toHexString(b) + " in the request target");
            case VERSION:
                if (b != HTTP_SLASH[index]) {
                    return fail("the version must be HTTP/x.y, upper case, after one space");
                }
                if (++index == HTTP_SLASH.length) {
                    state = State.VERSION_MAJOR;
                }
                return true;
            case VERSION_MAJOR:
                state = State.VERSION_DOT;
                return isDigit(b) || fail("invalid version");
            case VERSION_DOT:
                state = State.VERSION_MINOR;
                return b == '.' || fail("invalid version");
            case VERSION_MINOR:
                state = request ? State.REQUEST_LINE_CR : State.STATUS_SP;
                return isDigit(b) || fail("invalid version");
            case REQUEST_LINE_CR:
                state = State.LINE_LF;
                return b == '\r' || fail("the request line must end with the version and CRLF");
            case STATUS_SP:
                state = State.STATUS;
                index = 0;
                return b == ' ' || fail("the status code must follow the version after one space");
            case STATUS:
                if (++index == 3) {
                    state = State.STATUS_END;
                }
                return isDigit(b) || fail("the status code must be three digits");
            case STATUS_END:
                if (b == '\r') {
                    state = State.LINE_LF;
                    return true;
                }
                state = State.REASON;
                return b == ' ' || fail("the status code must be three digits");
            case REASON:
                if (b == '\r') {
                    state = State.LINE_LF;
                    return true;
                }
                return isFieldByte(b) || fail("invalid byte 0x" + Integer.toHexString(b) + " in the reason phrase");
            case LINE_LF:
                state = State.FIELD_START;
                return b == '\n' || fail("CR without LF");
            case FIELD_START:
                if (b == '\r') {
                    state = State.END_LF;
                    return true;
                }
                if (b == ' ' || b == '\t') {
                    return fail("a field line starts with whitespace (obs-fold)");
                }
                if (!TCHAR[b]) {
                    return fail("invalid byte 0x" + Integer.toHexString(b) + " in a field name");
                }
                state = State.NAME;
                index = 0;
                nameIsTransferEncoding = request && !trailers;
                matchName(b);
                return true;
            case NAME:
                if (b == ':') {
                    if (nameIsTransferEncoding && index == TRANSFER_ENCODING.length) {
                        state = State.TE_LEADING_SP;
                        transferEncodingSeen = true;
                    } else {
                        state = State.VALUE;
                    }
                    return true;
                }
                if (!TCHAR[b]) {
                    return fail("invalid byte 0x" + Integer.toHexString(b) + " in a field name");
                }
                matchName(b);
                return true;
            case VALUE:
                if (b == '\r') {
                    state = State.LINE_LF;
                    return true;
                }
                return isFieldByte(b) || fail("invalid byte 0x" + Integer.toHexString(b) + " in a field value");
            case END_LF:
                if (b != '\n') {
                    return fail("CR without LF");
                }
                if (trailers) {
                    state = State.AWAIT_END;
                    return false;
                }
                if (transferEncodingSeen && !lastCodingChunked) {
                    return fail("the final transfer coding is not exactly chunked");
                }
                transferEncodingSeen = false;
                state = State.AWAIT_HEAD;
                return false;
            case TE_LEADING_SP:
                if (b == ' ') {
                    return true;
                }
                return transferCoding(b);
            case TE_CODING:
                if (TCHAR[b]) {
                    matchCoding(b);
                    return true;
                }
                return afterCodingPart(b);
            case TE_PARAM_TOKEN:
                return TCHAR[b] || afterCodingPart(b);
            case TE_AFTER:
                if (b == ' ') {
                    return true;
                }
                if (b == ',' || b == ';') {
                    return afterCodingPart(b);
                }
                return fail(b == '\r' ? "whitespace after the Transfer-Encoding value" : "whitespace inside a transfer coding");
            case TE_LIST_SP:
                if (b == ' ') {
                    return true;
                }
                return transferCoding(b);
            case TE_PARAM_SP:
                if (b == ' ') {
                    return true;
                }
                state = State.TE_PARAM_NAME;
                return TCHAR[b] || fail("invalid transfer coding parameter");
            case TE_PARAM_NAME:
                if (b == '=') {
                    state = State.TE_PARAM_VALUE;
                    return true;
                }
                return TCHAR[b] || fail("invalid transfer coding parameter");
            case TE_PARAM_VALUE:
                if (b == '"') {
                    state = State.TE_QUOTED;
                    return true;
                }
                state = State.TE_PARAM_TOKEN;
                return TCHAR[b] || fail("invalid transfer coding parameter");
            case TE_QUOTED:
                if (b == '"') {
                    state = State.TE_QUOTED_END;
                    return true;
                }
                if (b == '\\') {
                    state = State.TE_QUOTED_PAIR;
                    return true;
                }
                return isFieldByte(b) || fail("invalid transfer coding parameter");
            case TE_QUOTED_END:
                return afterCodingPart(b);
            case TE_QUOTED_PAIR:
                state = State.TE_QUOTED;
                return isFieldByte(b) || fail("invalid transfer coding parameter");
            case SIZE_FIRST:
                chunkSize = 0;
                index = 0;
                state = State.SIZE;
                return hexDigit(b);
            case SIZE:
                if (b == '\r') {
                    state = State.SIZE_LF;
                    return true;
                }
                if (b == ';' || b == ' ' || b == '\t') {
                    state = State.EXTENSION; // its syntax is Netty's to check
                    return true;
                }
                return hexDigit(b);
            case EXTENSION:
                if (b == '\r') {
                    state = State.SIZE_LF;
                    return true;
                }
                return isFieldByte(b) || fail("invalid byte 0x" + Integer.toHexString(b) + " in a chunk extension");
            case SIZE_LF:
                if (b != '\n') {
                    return fail("CR without LF after the chunk size");
                }
                if (chunkSize == 0) {
                    trailers = true;
                    state = State.FIELD_START;
                    return true;
                }
                state = State.DATA;
                return false; // the data is skipped by count
            case DATA_CR:
                state = State.DATA_LF;
                return b == '\r' || fail("chunk data not followed by CRLF");
            case DATA_LF:
                state = State.SIZE_FIRST;
                return b == '\n' || fail("chunk data not followed by CRLF");
            default:
                throw new IllegalStateException(state.name());
        }
    }

    private boolean startLine(int b) {
        if (request) {
            state = State.METHOD;
            return TCHAR[b] || fail("invalid byte 0x" + Integer.toHexString(b) + " before or in the method");
        }
        state = State.VERSION;
        index = 0;
        return process((byte) b);
    }

    private void matchName(int b) {
        if (nameIsTransferEncoding) {
            nameIsTransferEncoding = index < TRANSFER_ENCODING.length && lower(b) == TRANSFER_ENCODING[index];
        }
        index++;
    }

    /** The first byte of a coding in a {@code Transfer-Encoding} list. */
    private boolean transferCoding(int b) {
        if (!TCHAR[b]) {
            return fail(b == '\t' ? "tab in Transfer-Encoding" : "invalid Transfer-Encoding list");
        }
        state = State.TE_CODING;
        index = 0;
        codingIsChunked = true;
        codingHasParameters = false;
        matchCoding(b);
        return true;
    }

    private void matchCoding(int b) {
        if (codingIsChunked) {
            codingIsChunked = index < CHUNKED.length && lower(b) == CHUNKED[index];
        }
        index++;
    }

    /** After a coding name or a parameter value: a separator, whitespace before one, or the end. */
    private boolean afterCodingPart(int b) {
        switch (b) {
            case ' ':
                state = State.TE_AFTER;
                return true;
            case ',':
                state = State.TE_LIST_SP;
                return true;
            case ';':
                codingHasParameters = true;
                state = State.TE_PARAM_SP;
                return true;
            case '\r':
                lastCodingChunked = !codingHasParameters && codingIsChunked && index == CHUNKED.length;
                state = State.LINE_LF;
                return true;
            default:
                return fail(b == '\t' ? "tab in Transfer-Encoding" : "invalid Transfer-Encoding list");
        }
    }

    private boolean hexDigit(int b) {
        int digit = Character.digit(b, 16);
        if (digit < 0) {
            return fail("invalid chunk size");
        }
        if (++index > MAX_SIZE_DIGITS) {
            return fail("chunk size with more than " + MAX_SIZE_DIGITS + " hex digits");
        }
        chunkSize = chunkSize * 16 + digit;
        if (chunkSize > Integer.MAX_VALUE) {
            return fail("chunk size too large");
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
