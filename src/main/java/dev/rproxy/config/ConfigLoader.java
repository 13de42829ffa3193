package dev.rproxy.config;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Reads config.json into a {@link ProxyConfig}. Strict on purpose: unknown keys, duplicate keys,
 * explicit {@code null}s, strings where numbers belong, fractions where integers belong and
 * trailing content are all errors, so a typo never silently falls back to a default.
 *
 * <p>Messages: I/O and syntax problems start with the file name ({@code config.json: no such
 * file}, {@code config.json: invalid JSON at line 3, column 7: ...}); problems with a value start
 * with its JSON path ({@code pool.maxConnectionsPerBackend: 0 (expected: >= 1)}). {@link #parse}
 * has no file name, so its syntax messages start with {@code invalid JSON}.
 *
 * <p>The document is read with jackson-core's streaming parser and the sections by hand ({@link
 * ConfigJson}), not bound by reflection: binding took about a third of the time to start.
 */
public final class ConfigLoader {

    private ConfigLoader() {
    }

    /** Reads and parses {@code file} (UTF-8). */
    public static ProxyConfig load(Path file) {
        String name = file.toString();
        Path dir = file.toAbsolutePath().getParent();
        return parse(read(file, name), name + ": ", dir);
    }

    /** Parses a configuration document; relative file paths in it start at the working directory. */
    public static ProxyConfig parse(String json) {
        return parse(Objects.requireNonNull(json, "json"), "", Path.of("").toAbsolutePath());
    }

    private static ProxyConfig parse(String json, String sourcePrefix, Path baseDir) {
        return ConfigJson.root(JsonTree.parseObject(json, sourcePrefix), baseDir);
    }

    private static String read(Path file, String name) {
        if (Files.isDirectory(file)) {
            throw new ConfigException(name + ": is a directory");
        }
        try {
            return Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new ConfigException(name + ": no such file", e);
        } catch (AccessDeniedException e) {
            throw new ConfigException(name + ": permission denied", e);
        } catch (CharacterCodingException e) {
            throw new ConfigException(name + ": not valid UTF-8", e);
        } catch (IOException e) {
            // FileSystemException's message repeats the path; its reason alone is the useful part.
            String reason = e instanceof FileSystemException fse ? fse.getReason() : e.getMessage();
            throw new ConfigException(name + ": cannot read (" + Objects.requireNonNullElse(reason, "I/O error") + ")", e);
        }
    }
}
