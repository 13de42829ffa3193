package dev.rproxy.config;

import java.net.URI;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Bearer tokens a route requires: JWTs signed with an asymmetric key from a JSON Web Key Set,
 * checked for issuer, audience and lifetime (RFC 7519 §4.1, RFC 8725).
 *
 * <p>Only public-key algorithms are accepted. A shared secret would have to live in the proxy's
 * configuration, and refusing every {@code HS*} algorithm also closes the attack where a token
 * names {@code HS256} and is MACed with the bytes of the RSA public key.
 *
 * @param issuer           the {@code iss} a token must have, compared exactly
 * @param audiences        a token's {@code aud} must contain one of them; empty: not checked
 * @param jwksFile         a file holding the key set (relative: from the configuration file's
 *                         directory), re-read every {@code jwksRefreshMs}; exactly one of this and
 *                         {@code jwksUrl}
 * @param jwksUrl          an {@code http} or {@code https} URL the key set is fetched from
 * @param algorithms       the {@code alg} values accepted, a subset of {@link #SUPPORTED_ALGORITHMS}
 * @param clockSkewSeconds how far {@code exp}, {@code nbf} and {@code iat} may be off, 0..600
 * @param forwardClaims    claim name to the request header its value is sent to the backend in
 *                         (a field name, not one that frames the message or is hop-by-hop)
 * @param jwksRefreshMs    how often the key set is loaded again, >= 1000
 */
public record JwtConfig(String issuer, List<String> audiences, Path jwksFile, URI jwksUrl, List<String> algorithms,
                        int clockSkewSeconds, Map<String, String> forwardClaims, long jwksRefreshMs) {

    /** Signature algorithms of RFC 7518 §3.1 with a public key, and EdDSA with Ed25519 (RFC 8037). */
    public static final List<String> SUPPORTED_ALGORITHMS = List.of("RS256", "RS384", "RS512", "PS256", "PS384",
            "PS512", "ES256", "ES384", "ES512", "EdDSA");
    public static final List<String> DEFAULT_ALGORITHMS = List.of("RS256", "ES256");
    public static final int DEFAULT_CLOCK_SKEW_SECONDS = 30;
    public static final int MAX_CLOCK_SKEW_SECONDS = 600;
    public static final long DEFAULT_JWKS_REFRESH_MS = 300_000;
    public static final long MIN_JWKS_REFRESH_MS = 1000;

    /**
     * Fields a claim must not be forwarded in: they frame the message or belong to one
     * connection (RFC 9110 §7.6.1, RFC 9112 §6), so a value from a token would change what the
     * backend reads as the request.
     */
    private static final Set<String> RESERVED_HEADERS = Set.of("content-length", "transfer-encoding", "connection",
            "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "host");

    public JwtConfig {
        Checks.required("issuer", issuer);
        if (issuer.isEmpty()) {
            throw new ConfigException("issuer: \"\" (expected: the iss tokens carry)");
        }
        audiences = audiences == null ? List.of() : checkAudiences(audiences);
        if ((jwksFile == null) == (jwksUrl == null)) {
            throw new ConfigException(jwksFile == null ? "jwksUrl: required (or jwksFile; exactly one of them)"
                    : "jwksFile: set together with jwksUrl (expected: exactly one of them)");
        }
        if (jwksUrl != null) {
            checkUrl(jwksUrl);
        }
        algorithms = algorithms == null ? DEFAULT_ALGORITHMS : checkAlgorithms(algorithms);
        Checks.between("clockSkewSeconds", clockSkewSeconds, 0, MAX_CLOCK_SKEW_SECONDS);
        forwardClaims = forwardClaims == null ? Map.of() : checkForwardClaims(forwardClaims);
        Checks.atLeast("jwksRefreshMs", jwksRefreshMs, MIN_JWKS_REFRESH_MS);
    }

    /** The defaults for everything but the issuer and where the keys come from. */
    public JwtConfig(String issuer, Path jwksFile, URI jwksUrl) {
        this(issuer, null, jwksFile, jwksUrl, null, DEFAULT_CLOCK_SKEW_SECONDS, null, DEFAULT_JWKS_REFRESH_MS);
    }

    private static List<String> checkAudiences(List<String> audiences) {
        for (int i = 0; i < audiences.size(); i++) {
            String audience = Checks.required("audiences[" + i + "]", audiences.get(i));
            if (audience.isEmpty()) {
                throw new ConfigException("audiences[" + i + "]: \"\" (expected: an aud value)");
            }
        }
        return List.copyOf(audiences);
    }

    private static void checkUrl(URI url) {
        String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(Locale.ROOT);
        if (!(scheme.equals("http") || scheme.equals("https")) || url.getHost() == null) {
            throw new ConfigException("jwksUrl: " + Checks.quote(url.toString())
                    + " (expected: an http:// or https:// URL with a host)");
        }
    }

    private static List<String> checkAlgorithms(List<String> algorithms) {
        if (algorithms.isEmpty()) {
            throw new ConfigException("algorithms: empty (expected: some of " + String.join(", ", SUPPORTED_ALGORITHMS)
                    + ")");
        }
        for (int i = 0; i < algorithms.size(); i++) {
            String name = "algorithms[" + i + "]";
            String algorithm = Checks.required(name, algorithms.get(i));
            if (!SUPPORTED_ALGORITHMS.contains(algorithm)) {
                String why = algorithm.startsWith("HS") ? "symmetric algorithms are not supported; "
                        : algorithm.equalsIgnoreCase("none") ? "unsigned tokens are never accepted; " : "";
                throw new ConfigException(name + ": " + Checks.quote(algorithm) + " (" + why + "expected: one of "
                        + String.join(", ", SUPPORTED_ALGORITHMS) + ")");
            }
        }
        return List.copyOf(algorithms);
    }

    private static Map<String, String> checkForwardClaims(Map<String, String> forwardClaims) {
        Map<String, String> checked = new LinkedHashMap<>();
        Map<String, String> claimByHeader = new HashMap<>();
        for (Map.Entry<String, String> entry : forwardClaims.entrySet()) {
            String claim = entry.getKey();
            if (claim == null || claim.isEmpty()) {
                throw new ConfigException("forwardClaims: \"\" (expected: claim names)");
            }
            String name = "forwardClaims." + claim;
            String header = Checks.required(name, entry.getValue());
            if (header.isEmpty() || !header.chars().allMatch(JwtConfig::isTokenChar)) {
                throw new ConfigException(name + ": " + Checks.quote(header)
                        + " (expected: a header field name, an RFC 9110 token)");
            }
            String lower = header.toLowerCase(Locale.ROOT);
            if (RESERVED_HEADERS.contains(lower)) {
                throw new ConfigException(name + ": " + Checks.quote(header)
                        + " (expected: not a field that frames the request or belongs to the connection)");
            }
            String other = claimByHeader.putIfAbsent(lower, claim);
            if (other != null) {
                throw new ConfigException(name + ": " + Checks.quote(header) + " is forwardClaims." + other
                        + "'s header already");
            }
            checked.put(claim, header);
        }
        return Collections.unmodifiableMap(checked);
    }

    /** {@code tchar} of RFC 9110 §5.6.2. */
    private static boolean isTokenChar(int c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
    }
}
