package dev.rproxy.config;

import java.util.List;
import java.util.Objects;

/**
 * TLS on a listener.
 *
 * @param certificates certificate chains with their keys; the one whose names match the client's
 *                     SNI serves a handshake, the first one when none does (or no SNI was sent)
 * @param minVersion   {@code TLSv1.2} (default) or {@code TLSv1.3}; older versions are never offered
 */
public record TlsConfig(List<CertificateConfig> certificates, String minVersion) {

    public static final String TLS_1_2 = "TLSv1.2";
    public static final String TLS_1_3 = "TLSv1.3";

    public TlsConfig {
        if (certificates == null || certificates.isEmpty()) {
            throw new ConfigException("certificates: required (at least one certificate)");
        }
        for (int i = 0; i < certificates.size(); i++) {
            Checks.required("certificates[" + i + "]", certificates.get(i));
        }
        certificates = List.copyOf(certificates);
        minVersion = Checks.oneOf("minVersion", Objects.requireNonNullElse(minVersion, TLS_1_2), List.of(TLS_1_2, TLS_1_3));
    }

    /** The protocol versions a handshake may use, newest first. */
    public List<String> versions() {
        return TLS_1_3.equals(minVersion) ? List.of(TLS_1_3) : List.of(TLS_1_3, TLS_1_2);
    }
}
