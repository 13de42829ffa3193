package dev.rproxy.backend;

import dev.rproxy.config.BackendConfig;
import dev.rproxy.config.BackendTlsConfig;
import dev.rproxy.config.ConfigException;
import dev.rproxy.pool.Connects;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.codec.http2.Http2SecurityUtil;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolConfig.Protocol;
import io.netty.handler.ssl.ApplicationProtocolConfig.SelectedListenerFailureBehavior;
import io.netty.handler.ssl.ApplicationProtocolConfig.SelectorFailureBehavior;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * TLS to one {@code https://} backend: a client context built once from its settings, and a
 * handler per connection that sends SNI and, unless {@code verify} is off, checks the backend's
 * chain (against {@code caFile}, or the JDK's trust store) and that the certificate is for the
 * server name (RFC 9110 section 4.3.4's https identity check; an IP address is matched against
 * the certificate's IP addresses). TLS 1.3 and 1.2 only, with the same modern suites as the
 * listeners; a client certificate when {@code certFile} is given. Health probes and exchanges use
 * the same context.
 */
public final class BackendTls {
    /**
     * The TLS engine: BoringSSL (netty-tcnative) when it loads here, the JDK's otherwise; listeners
     * use it too. Decided on first use, so a configuration without TLS never loads the native
     * library.
     */
    public static SslProvider provider() {
        return Engine.PROVIDER;
    }

    private static final class Engine {
        static final SslProvider PROVIDER = OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK;
    }

    private final SslContext context;
    private final String serverName;
    private final int port;
    private final long handshakeTimeoutMs;

    private BackendTls(SslContext context, String serverName, int port, long handshakeTimeoutMs) {
        this.context = context;
        this.serverName = serverName;
        this.port = port;
        this.handshakeTimeoutMs = handshakeTimeoutMs;
    }

    /**
     * The TLS of {@code backend}, or {@code null} for an {@code http://} one; the handshake must end
     * within {@code handshakeTimeoutMs}. A file that does not load is a {@link ConfigException}
     * naming it, relative to the backend ({@code tls.caFile: ...}).
     */
    static BackendTls of(BackendConfig backend, long handshakeTimeoutMs) {
        BackendTlsConfig tls = backend.tls();
        if (tls == null) {
            return null;
        }
        if (tls.verify() && tls.caFile() != null) {
            readable("tls.caFile", tls.caFile());
        }
        if (tls.certFile() != null) {
            readable("tls.certFile", tls.certFile());
            readable("tls.keyFile", tls.keyFile());
        }
        SslContext context;
        try {
            SslContextBuilder builder = SslContextBuilder.forClient()
                    .sslProvider(provider())
                    .protocols("TLSv1.3", "TLSv1.2")
                    .ciphers(Http2SecurityUtil.CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                    .endpointIdentificationAlgorithm(tls.verify() ? "HTTPS" : null);
            if (backend.http2()) {
                // Only h2 is offered: a backend configured for HTTP/2 that does not agree to it is
                // a failed connection (UpstreamPools checks the outcome), not HTTP/1.1 by surprise.
                builder.applicationProtocolConfig(new ApplicationProtocolConfig(Protocol.ALPN,
                        SelectorFailureBehavior.NO_ADVERTISE, SelectedListenerFailureBehavior.ACCEPT,
                        ApplicationProtocolNames.HTTP_2));
            }
            if (!tls.verify()) {
                builder.trustManager(InsecureTrustManagerFactory.INSTANCE);
            } else if (tls.caFile() != null) {
                builder.trustManager(tls.caFile().toFile());
            }
            if (tls.certFile() != null) {
                builder.keyManager(tls.certFile().toFile(), tls.keyFile().toFile());
            }
            context = builder.build();
        } catch (IOException | IllegalArgumentException e) {
            // Files that read but do not parse: not PEM, or a key that is not PKCS#8.
            throw new ConfigException("tls: cannot use " + (tls.caFile() != null ? tls.caFile() + " " : "")
                    + (tls.certFile() != null ? tls.certFile() + " " : "") + "(" + Connects.describe(e) + ")", e);
        }
        String name = tls.serverName() != null ? tls.serverName() : backend.host();
        return new BackendTls(context, name, backend.port(), handshakeTimeoutMs);
    }

    private static void readable(String key, Path file) {
        if (!Files.isReadable(file)) {
            throw new ConfigException(key + ": " + file + ": cannot read");
        }
    }

    /** A new connection's TLS handler: SNI and the identity check with the server name. */
    public SslHandler newHandler(ByteBufAllocator alloc) {
        SslHandler handler = context.newHandler(alloc, serverName, port);
        handler.setHandshakeTimeoutMillis(handshakeTimeoutMs);
        return handler;
    }

    /** The name sent in SNI and checked in the certificate. */
    public String serverName() {
        return serverName;
    }
}
