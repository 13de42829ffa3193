package dev.rproxy.config;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Fields a route changes in every response it sends to the client, its backends' and the proxy's
 * own: {@code remove} first, then {@code set} (which replaces a field of the same name).
 *
 * @param set    field name to value, in the order written
 * @param remove field names
 */
public record ResponseHeadersConfig(Map<String, String> set, List<String> remove) {

    public static final ResponseHeadersConfig NONE = new ResponseHeadersConfig(null, null);

    public ResponseHeadersConfig {
        set = Collections.unmodifiableMap(new LinkedHashMap<>(Objects.requireNonNullElse(set, Map.of())));
        remove = List.copyOf(Objects.requireNonNullElse(remove, List.of()));
        for (Map.Entry<String, String> e : set.entrySet()) {
            Checks.fieldName("set", e.getKey());
            Checks.fieldValue("set." + e.getKey(), e.getValue());
        }
        for (int i = 0; i < remove.size(); i++) {
            Checks.fieldName("remove[" + i + "]", remove.get(i));
        }
    }

    public boolean changesNothing() {
        return set.isEmpty() && remove.isEmpty();
    }
}
