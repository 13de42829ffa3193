package dev.rproxy.pool;

/** The TLS handshake with a backend failed after the TCP connect: a failed connect, for what follows. */
public final class TlsHandshakeException extends Exception {
    private static final long serialVersionUID = 1L;

    TlsHandshakeException(Throwable cause) {
        super("TLS handshake failed: " + Connects.describe(cause), cause, false, false);
    }
}
