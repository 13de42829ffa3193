package dev.rproxy.server;

import dev.rproxy.backend.BackendTls;
import dev.rproxy.config.CertificateConfig;
import dev.rproxy.config.ConfigException;
import dev.rproxy.config.TlsConfig;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.codec.http2.Http2SecurityUtil;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.OpenSslCachingX509KeyManagerFactory;
import io.netty.handler.ssl.ReferenceCountedOpenSslEngine;
import io.netty.handler.ssl.SniHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import io.netty.util.DomainWildcardMappingBuilder;
import io.netty.util.Mapping;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.naming.InvalidNameException;
import javax.net.ssl.KeyManagerFactory;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The TLS side of one listener: a server context per certificate, chosen per handshake by the name
 * the client sent in SNI ({@link SniHandler}), and re-read when its files change on disk.
 *
 * <p>Names: each certificate serves the DNS names of its subjectAltName extension, or its subject's
 * CN when it has none; {@code *.example.test} matches one label ({@code a.example.test}, not
 * {@code example.test} nor {@code a.b.example.test}, RFC 6125 section 6.4.3). A handshake without
 * SNI, or for a name no certificate has, gets the first certificate.
 *
 * <p>Versions TLS 1.3 and 1.2 (or 1.3 alone) with Netty's list of modern cipher suites for HTTP/2
 * (ECDHE with AES-GCM or ChaCha20-Poly1305 on TLS 1.2; no RC4, 3DES, CBC or anonymous suites);
 * ALPN offers the listener's protocols in order. The engine is {@link BackendTls#provider()}'s.
 *
 * <p>OCSP stapling: a certificate with an {@code ocspFile} has that response stapled to every
 * handshake that asks for it (the status_request extension), with the OpenSSL provider.
 *
 * <p>Reload: {@link #reloadIfChanged()} compares each file's size and modification time with those
 * last read; when one changed, every context of the listener is built again and swapped in for new
 * handshakes, while open connections keep theirs. A set of files that does not load (a key that
 * does not match, a half-written file) is logged once and the contexts in use stay.
 *
 * <p>Threading: built on the starting thread; {@link #reloadIfChanged()} runs on one scheduler
 * thread; handshakes read the current mapping through a volatile field.
 */
final class TlsContexts implements Mapping<String, SslContext> {
    private static final Logger log = LoggerFactory.getLogger(TlsContexts.class);

    private static final String PKCS8_BEGIN = "-----BEGIN PRIVATE KEY-----";
    private static final String PKCS8_END = "-----END PRIVATE KEY-----";
    /** Of the key store that only carries a key from its file to the TLS engine, in memory. */
    private static final char[] IN_MEMORY_PASSWORD = "in-memory".toCharArray();

    private final String where;
    private final TlsConfig config;
    private final List<String> protocols;
    private volatile Mapping<String, SslContext> byName;
    /** The OCSP response to staple for each context that has one; swapped with {@link #byName}. */
    private volatile Map<SslContext, byte[]> staples = Map.of();
    /** The DNS names of each certificate, as last loaded. */
    private List<Set<String>> names = List.of();
    private List<FileStamp> loaded;
    /** The stamps of a set of files that failed to load, so that it is not loaded again. */
    private List<FileStamp> failed;
    /** The last failure logged, so that each is logged once. */
    private String lastFailure;

    /**
     * Loads every certificate of {@code config}; a file that cannot be read or a key that does not
     * load is a {@link ConfigException} naming it, at {@code where} ({@code listen[1].tls}).
     */
    TlsContexts(String where, TlsConfig config, List<String> protocols) {
        this.where = where;
        this.config = config;
        this.protocols = List.copyOf(protocols);
        this.loaded = stamps();
        this.byName = load();
    }

    /**
     * A handler that reads the ClientHello and puts the matching context's {@code SslHandler} in its
     * place, with the certificate's OCSP response stapled when it has one.
     */
    SniHandler newHandler(long handshakeTimeoutMillis) {
        return new SniHandler(this, handshakeTimeoutMillis) {
            @Override
            protected SslHandler newSslHandler(SslContext context, ByteBufAllocator allocator) {
                SslHandler handler = super.newSslHandler(context, allocator);
                byte[] staple = staples.get(context);
                if (staple != null && handler.engine() instanceof ReferenceCountedOpenSslEngine engine) {
                    engine.setOcspResponse(staple);
                }
                return handler;
            }
        };
    }

    @Override
    public SslContext map(String hostname) {
        return byName.map(hostname);
    }

    /** Builds the contexts again when a file changed since they were read; see the class comment. */
    void reloadIfChanged() {
        List<FileStamp> now;
        try {
            now = stamps();
        } catch (ConfigException e) {
            reportFailure(e.getMessage()); // a file missing or unreadable, maybe being replaced
            return;
        }
        if (now.equals(loaded) || now.equals(failed)) {
            return;
        }
        try {
            byName = load();
            loaded = now;
            failed = null;
            lastFailure = null;
            log.info("{}: certificates reloaded ({})", where, names());
        } catch (ConfigException e) {
            failed = now;
            reportFailure(e.getMessage());
        }
    }

    private void reportFailure(String message) {
        if (!message.equals(lastFailure)) {
            lastFailure = message;
            log.warn("certificates not reloaded, the ones loaded before stay in use: {}", message);
        }
    }

    private Mapping<String, SslContext> load() {
        List<CertificateConfig> certificates = config.certificates();
        List<SslContext> contexts = new ArrayList<>(certificates.size());
        List<Set<String>> names = new ArrayList<>(certificates.size());
        Map<SslContext, byte[]> staples = new IdentityHashMap<>();
        for (int i = 0; i < certificates.size(); i++) {
            String at = where + ".certificates[" + i + "]";
            CertificateConfig certificate = certificates.get(i);
            X509Certificate[] chain = chain(at + ".certFile", certificate.certFile());
            names.add(dnsNames(at + ".certFile", certificate.certFile(), chain[0]));
            PrivateKey key = keyOf(at + ".keyFile", certificate.keyFile(), chain[0]);
            byte[] staple = ocspResponse(at + ".ocspFile", certificate.ocspFile());
            SslContext context = context(at, certificate, chain, key, staple != null);
            contexts.add(context);
            if (staple != null) {
                staples.put(context, staple);
            }
        }
        this.staples = staples;
        DomainWildcardMappingBuilder<SslContext> mapping = new DomainWildcardMappingBuilder<>(contexts.get(0));
        // The first certificate naming a host serves it: added last, so that it wins.
        for (int i = contexts.size() - 1; i >= 0; i--) {
            for (String name : names.get(i)) {
                mapping.add(name, contexts.get(i));
            }
        }
        this.names = names;
        return mapping.build();
    }

    /** The names each certificate serves, for the log. */
    String names() {
        List<String> out = new ArrayList<>();
        for (Set<String> set : names) {
            out.add(set.isEmpty() ? "(no DNS name)" : String.join(" ", set));
        }
        return String.join("; ", out);
    }

    /**
     * The DER OCSP response in {@code file} ({@code null} without one); checked only for the outer
     * shape (a DER SEQUENCE), as the TLS library staples it as it is. With the JDK provider, which
     * cannot staple a given response, it is read but not used, and that is logged.
     */
    private byte[] ocspResponse(String at, Path file) {
        if (file == null) {
            return null;
        }
        byte[] der;
        try {
            der = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new ConfigException(at + ": " + file + ": cannot read (" + e.getClass().getSimpleName() + ")", e);
        }
        if (der.length < 2 || der[0] != 0x30) {
            throw new ConfigException(at + ": " + file + ": not a DER OCSP response (openssl ocsp -respout writes one)");
        }
        if (BackendTls.provider() != SslProvider.OPENSSL) {
            log.warn("{}: OCSP stapling needs the OpenSSL (BoringSSL) provider, which did not load here; not stapled", at);
            return null;
        }
        return der;
    }

    /**
     * The server context of one certificate. With BoringSSL the key and chain go in through a
     * caching key manager: Netty's default hands them to the native side anew in every handshake
     * (encoded, then parsed again), which cost more than the handshake's own signature here.
     */
    private SslContext context(String at, CertificateConfig certificate, X509Certificate[] chain, PrivateKey key,
            boolean staple) {
        try {
            SslContextBuilder builder;
            if (BackendTls.provider() == SslProvider.OPENSSL) {
                KeyStore store = KeyStore.getInstance("PKCS12");
                store.load(null, null);
                store.setKeyEntry("key", key, IN_MEMORY_PASSWORD, chain);
                KeyManagerFactory factory = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                factory.init(store, IN_MEMORY_PASSWORD);
                builder = SslContextBuilder.forServer(new OpenSslCachingX509KeyManagerFactory(factory));
            } else {
                builder = SslContextBuilder.forServer(certificate.certFile().toFile(), certificate.keyFile().toFile());
            }
            return builder
                    .sslProvider(BackendTls.provider())
                    .enableOcsp(staple)
                    .protocols(config.versions())
                    .ciphers(Http2SecurityUtil.CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                    .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                            // The only failure behaviours both providers support.
                            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, protocols))
                    .build();
        } catch (IOException | GeneralSecurityException | IllegalArgumentException e) {
            String reason = e.getMessage() == null ? e.toString() : e.getMessage();
            Throwable cause = e.getCause();
            if (cause != null && cause.getMessage() != null && !reason.contains(cause.getMessage())) {
                reason += " (" + cause.getMessage() + ")";
            }
            throw new ConfigException(at + ": cannot use " + certificate.certFile() + " with "
                    + certificate.keyFile() + ": " + reason, e);
        }
    }

    /** The DNS names the first certificate in {@code file} is for; see the class comment. */
    private static Set<String> dnsNames(String at, Path file, X509Certificate certificate) {
        Set<String> names = new LinkedHashSet<>();
        try {
            Collection<List<?>> alternatives = certificate.getSubjectAlternativeNames();
            if (alternatives != null) {
                for (List<?> entry : alternatives) {
                    if (Integer.valueOf(2).equals(entry.get(0)) && entry.get(1) instanceof String dns) {
                        names.add(dns.toLowerCase(Locale.ROOT));
                    }
                }
            }
        } catch (CertificateParsingException e) {
            throw new ConfigException(at + ": " + file + ": unreadable subjectAltName (" + e.getMessage() + ")", e);
        }
        if (names.isEmpty()) {
            try {
                for (Rdn rdn : new LdapName(certificate.getSubjectX500Principal().getName()).getRdns()) {
                    if ("CN".equalsIgnoreCase(rdn.getType()) && rdn.getValue() instanceof String cn) {
                        names.add(cn.toLowerCase(Locale.ROOT));
                    }
                }
            } catch (InvalidNameException e) {
                // no usable CN: the certificate is served only as the default
            }
        }
        return names;
    }

    /**
     * The private key in {@code file}, refused when it is not the certificate's (the OpenSSL
     * provider would only find out in the first handshake). Reads the PKCS#8 PEM ({@code BEGIN
     * PRIVATE KEY}, RSA or EC), signs a challenge with it and verifies the signature with the
     * certificate's public key.
     */
    private static PrivateKey keyOf(String at, Path file, X509Certificate certificate) {
        String pem;
        try {
            pem = Files.readString(file, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new ConfigException(at + ": " + file + ": cannot read (" + e.getMessage() + ")", e);
        }
        int begin = pem.indexOf(PKCS8_BEGIN);
        int end = pem.indexOf(PKCS8_END, Math.max(begin, 0));
        if (begin < 0 || end < 0) {
            throw new ConfigException(at + ": " + file + ": no PKCS#8 private key in it (expected: PEM \"" + PKCS8_BEGIN
                    + "\"; openssl pkcs8 -topk8 -nocrypt converts other forms)");
        }
        String algorithm = certificate.getPublicKey().getAlgorithm();
        try {
            byte[] der = Base64.getMimeDecoder().decode(pem.substring(begin + PKCS8_BEGIN.length(), end));
            PrivateKey key = KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
            String scheme = "EC".equals(algorithm) ? "SHA256withECDSA" : "SHA256with" + algorithm;
            byte[] challenge = new byte[32];
            new SecureRandom().nextBytes(challenge);
            Signature signer = Signature.getInstance(scheme);
            signer.initSign(key);
            signer.update(challenge);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(scheme);
            verifier.initVerify(certificate.getPublicKey());
            verifier.update(challenge);
            if (!verifier.verify(signature)) {
                throw new ConfigException(at + ": " + file + ": not the private key of the certificate");
            }
            return key;
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            throw new ConfigException(at + ": " + file + ": not the " + algorithm + " private key of the certificate ("
                    + e.getMessage() + ")", e);
        }
    }

    /** The certificates in {@code file}, the server's first. */
    private static X509Certificate[] chain(String at, Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            List<X509Certificate> chain = new ArrayList<>();
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                if (c instanceof X509Certificate x509) {
                    chain.add(x509);
                }
            }
            if (chain.isEmpty()) {
                throw new ConfigException(at + ": " + file + ": no certificate in it (expected: PEM)");
            }
            return chain.toArray(X509Certificate[]::new);
        } catch (IOException e) {
            throw new ConfigException(at + ": " + file + ": cannot read (" + e.getMessage() + ")", e);
        } catch (CertificateException e) {
            throw new ConfigException(at + ": " + file + ": not a PEM certificate (" + e.getMessage() + ")", e);
        }
    }

    private List<FileStamp> stamps() {
        List<FileStamp> stamps = new ArrayList<>();
        List<CertificateConfig> certificates = config.certificates();
        for (int i = 0; i < certificates.size(); i++) {
            stamps.add(FileStamp.of(where + ".certificates[" + i + "].certFile", certificates.get(i).certFile()));
            stamps.add(FileStamp.of(where + ".certificates[" + i + "].keyFile", certificates.get(i).keyFile()));
            if (certificates.get(i).ocspFile() != null) {
                stamps.add(FileStamp.of(where + ".certificates[" + i + "].ocspFile", certificates.get(i).ocspFile()));
            }
        }
        return stamps;
    }

    /** What tells a changed file from the one read: its size and modification time. */
    private record FileStamp(Path file, long size, long modifiedNanos) {
        static FileStamp of(String at, Path file) {
            try {
                BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
                return new FileStamp(file, attributes.size(),
                        attributes.lastModifiedTime().to(TimeUnit.NANOSECONDS));
            } catch (IOException e) {
                throw new ConfigException(at + ": " + file + ": cannot read (" + e.getClass().getSimpleName() + ")", e);
            }
        }
    }
}
