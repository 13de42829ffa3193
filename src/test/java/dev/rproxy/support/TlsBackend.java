package dev.rproxy.support;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsExchange;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Collectors;
import javax.net.ssl.ExtendedSSLSession;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.TrustManager;

/**
 * An HTTPS backend on the JDK's HttpsServer, on an ephemeral loopback port: answers every request
 * (GET or POST, the body read and counted) with one line telling what TLS showed it,
 * {@code sni=NAME client=SUBJECT forwarded-proto=X bytes=N}, and {@code /_health} with 200. With
 * {@code clientTrust} it requires a client certificate that chains to it.
 */
public final class TlsBackend implements AutoCloseable {
    private final HttpsServer server;
    private final ExecutorService executor = Executors.newCachedThreadPool();

    public TlsBackend(KeyManagerFactory identity, TrustManager clientTrust) throws Exception {
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(identity.getKeyManagers(), clientTrust == null ? null : new TrustManager[] {clientTrust}, null);
        server = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        server.setHttpsConfigurator(new HttpsConfigurator(context) {
            @Override
            public void configure(HttpsParameters params) {
                SSLParameters parameters = context.getDefaultSSLParameters();
                parameters.setNeedClientAuth(clientTrust != null);
                params.setSSLParameters(parameters);
            }
        });
        server.setExecutor(executor);
        server.createContext("/", exchange -> {
            long bytes;
            try (InputStream in = exchange.getRequestBody()) {
                bytes = in.transferTo(OutputStream.nullOutputStream());
            }
            HttpsExchange https = (HttpsExchange) exchange;
            String sni = https.getSSLSession() instanceof ExtendedSSLSession extended
                    ? extended.getRequestedServerNames().stream()
                            .map(n -> n instanceof SNIHostName host ? host.getAsciiName() : n.toString())
                            .collect(Collectors.joining(","))
                    : "";
            String client;
            try {
                client = ((X509Certificate) https.getSSLSession().getPeerCertificates()[0])
                        .getSubjectX500Principal().getName();
            } catch (SSLPeerUnverifiedException e) {
                client = "none";
            }
            String proto = exchange.getRequestHeaders().getFirst("X-Forwarded-Proto");
            byte[] body = ("sni=" + (sni.isEmpty() ? "none" : sni) + " client=" + client + " forwarded-proto=" + proto
                    + " bytes=" + bytes + "\n").getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
    }

    public int port() {
        return server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
