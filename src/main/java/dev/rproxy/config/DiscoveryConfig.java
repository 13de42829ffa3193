package dev.rproxy.config;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Where an upstream finds its backends when they are not listed: a DNS name resolved again and
 * again, or a registry in Redis read again and again. The backends found speak plain HTTP/1.1 (no
 * scheme, protocol or TLS keys yet).
 *
 * <p>{@code redis} is the key of a sorted set in the proxy's Redis (the top-level {@code redis}
 * section) whose members are {@code host:port}, each scored by the epoch millisecond its
 * registration expires; the members not yet expired are the backends (weight 1). A backend keeps
 * itself in by adding itself again ahead of its expiry, and takes itself out with {@code ZREM}.
 *
 * <p>{@code dns} is either {@code name:port}, whose A and AAAA records are the backends' addresses
 * (all on that port, weight 1), or an SRV name ({@code _http._tcp.api.internal}, no port), whose
 * records of the lowest priority give each backend's target (resolved to its addresses), port and
 * weight (RFC 2782; weight 0 counts as 1, more than {@value BackendConfig#MAX_WEIGHT} as that).
 *
 * @param dns         {@code name:port} or {@code _service._proto.name}; {@code null} with {@code redis}
 * @param refreshMs   the least time between two resolutions, >= {@value #MIN_REFRESH_MS}; the next
 *                    one is due when the answer's shortest TTL runs out, and never later than
 *                    {@value #MAX_TTL_WAIT_MS} ms (or this, when it is longer). With {@code redis}:
 *                    the time between two reads of the registry
 * @param nameservers {@code ip} or {@code ip:port} (IPv6 in brackets with a port) of the servers to
 *                    ask, in order; empty (the default): the system's ({@code /etc/resolv.conf})
 * @param redis       the key of the registry's sorted set; {@code null} with {@code dns}
 */
public record DiscoveryConfig(String dns, long refreshMs, List<String> nameservers, String redis) {

    public static final long DEFAULT_REFRESH_MS = 5000;
    /** The registry is read this often unless {@code refreshMs} says otherwise. */
    public static final long DEFAULT_REDIS_REFRESH_MS = 1000;
    public static final long MIN_REFRESH_MS = 100;
    /** A TTL longer than this does not hold back the next resolution any longer. */
    public static final long MAX_TTL_WAIT_MS = 60_000;

    public DiscoveryConfig {
        if (redis != null) {
            if (dns != null) {
                throw new ConfigException("redis: not with dns (an upstream discovers from one of them)");
            }
            if (redis.isEmpty() || redis.chars().anyMatch(c -> c <= ' ' || c == 0x7f)) {
                throw new ConfigException("redis: " + Checks.quote(redis)
                        + " (expected: the key of a sorted set, such as \"services:jobs\")");
            }
            if (nameservers != null && !nameservers.isEmpty()) {
                throw new ConfigException("nameservers: only with dns");
            }
        } else {
            if (dns == null) {
                throw new ConfigException("dns: required (or redis: the key of a registry in Redis)");
            }
            dns = checkDns(dns.toLowerCase(Locale.ROOT));
        }
        Checks.atLeast("refreshMs", refreshMs, MIN_REFRESH_MS);
        nameservers = nameservers == null ? List.of() : List.copyOf(nameservers);
        for (int i = 0; i < nameservers.size(); i++) {
            nameserver("nameservers[" + i + "]", Checks.required("nameservers[" + i + "]", nameservers.get(i)));
        }
    }

    /** {@code name:port} or an SRV name, as it is. */
    private static String checkDns(String dns) {
        int colon = dns.lastIndexOf(':');
        String name = colon < 0 ? dns : dns.substring(0, colon);
        if (!isName(name)) {
            throw invalidDns(dns);
        }
        if (name.startsWith("_")) {
            if (colon >= 0) {
                throw new ConfigException("dns: " + Checks.quote(dns) + " (an SRV name takes no port: its records give them)");
            }
        } else if (colon < 0 || port(dns.substring(colon + 1)) < 0) {
            throw invalidDns(dns);
        }
        return dns;
    }

    /** Resolved every {@link #DEFAULT_REFRESH_MS} at the most, by the system's name servers. */
    public DiscoveryConfig(String dns) {
        this(dns, DEFAULT_REFRESH_MS, null);
    }

    /** DNS discovery. */
    public DiscoveryConfig(String dns, long refreshMs, List<String> nameservers) {
        this(dns, refreshMs, nameservers, null);
    }

    /** The registry {@code key} in Redis, read every {@code refreshMs}. */
    public static DiscoveryConfig redis(String key, long refreshMs) {
        return new DiscoveryConfig(null, refreshMs, null, key);
    }

    /** Whether the backends come from a registry in Redis rather than DNS. */
    public boolean fromRedis() {
        return redis != null;
    }

    /** Whether {@code dns} is an SRV name: ports and weights come from its records. */
    public boolean srv() {
        return dns != null && dns.startsWith("_");
    }

    /** The name to resolve. */
    public String name() {
        return srv() ? dns : dns.substring(0, dns.lastIndexOf(':'));
    }

    /** The backends' port for an A/AAAA name; 0 for an SRV name. */
    public int port() {
        return srv() ? 0 : port(dns.substring(dns.lastIndexOf(':') + 1));
    }

    /** {@link #nameservers} as addresses (port 53 unless given); empty: the system's. */
    public List<InetSocketAddress> nameserverAddresses() {
        List<InetSocketAddress> addresses = new ArrayList<>(nameservers.size());
        for (String s : nameservers) {
            addresses.add(nameserver("nameservers", s));
        }
        return addresses;
    }

    /** Letters, digits, {@code -}, {@code _} and dots, as a host name (a trailing dot allowed). */
    private static boolean isName(String name) {
        return !name.isEmpty() && !name.startsWith(".") && !name.contains("..") && name.chars().allMatch(
                c -> c == '-' || c == '.' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'));
    }

    private static ConfigException invalidDns(String dns) {
        return new ConfigException("dns: " + Checks.quote(dns)
                + " (expected: name:port for A/AAAA records, or an SRV name such as _http._tcp.api.internal)");
    }

    /** 1..65535, or -1. */
    private static int port(String digits) {
        if (digits.isEmpty() || digits.length() > 5 || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return -1;
        }
        int port = Integer.parseInt(digits);
        return port >= 1 && port <= 65535 ? port : -1;
    }

    /**
     * An IP address with an optional port; never a name, which would need resolving itself (and the
     * JDK's lookup blocks).
     */
    private static InetSocketAddress nameserver(String at, String value) {
        String host = value;
        int port = 53;
        if (value.startsWith("[")) {
            int close = value.indexOf(']');
            String rest = close < 0 ? "" : value.substring(close + 1);
            host = close < 0 ? "" : value.substring(1, close);
            if (!rest.isEmpty()) {
                port = rest.startsWith(":") ? port(rest.substring(1)) : -1;
            }
        } else if (value.indexOf(':') == value.lastIndexOf(':') && value.indexOf(':') >= 0) {
            host = value.substring(0, value.indexOf(':'));
            port = port(value.substring(value.indexOf(':') + 1));
        }
        byte[] address = host.isEmpty() ? null : io.netty.util.NetUtil.createByteArrayFromIpAddressString(host);
        if (address == null || port < 0) {
            throw new ConfigException(at + ": " + Checks.quote(value)
                    + " (expected: an IP address with an optional port, such as 127.0.0.1:5353 or [::1]:53)");
        }
        try {
            return new InetSocketAddress(InetAddress.getByAddress(address), port);
        } catch (java.net.UnknownHostException e) {
            throw new ConfigException(at + ": " + Checks.quote(value) + " (expected: an IP address)");
        }
    }
}
