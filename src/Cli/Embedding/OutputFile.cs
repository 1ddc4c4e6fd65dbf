using System.Text.Json;

namespace AkiDb.Queue.Cli.Embedding;

/// <summary>The <c>--out</c> JSONL file: what an earlier run wrote (to resume), and appending new lines.</summary>
internal static class OutputFile
{
    /// <summary>
    /// The (id, chunk) pairs already in the file. A last line cut short by an interruption is removed first, so the
    /// file stays valid JSONL and that chunk is sent again.
    /// </summary>
    public static HashSet<(string Id, int Chunk)> ReadWritten(string path)
    {
        var written = new HashSet<(string, int)>();
        if (!File.Exists(path))
        {
            return written;
        }

        TrimPartialLastLine(path);
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            try
            {
                using var json = JsonDocument.Parse(line);
                written.Add((json.RootElement.GetProperty("id").GetString()!, json.RootElement.GetProperty("chunk").GetInt32()));
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new InvalidDataException($"{path}:{number} is not a line embed wrote (no \"id\" and \"chunk\"); pass another --out, or delete the file to start over.", e);
            }
        }

        return written;
    }

    /// <summary>
    /// Appending bytes (the lines come as UTF-8 already), through a buffer that holds a whole result's lines (16 vectors
    /// of some 4 KB each): the run flushes once per result, so a line is not a write of its own.
    /// </summary>
    public static FileStream OpenForAppend(string path) => new(path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 1 << 17);

    private static void TrimPartialLastLine(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        if (file.Length == 0)
        {
            return;
        }

        var position = file.Length;
        var buffer = new byte[1];
        while (position > 0)
        {
            file.Position = position - 1;
            file.ReadExactly(buffer);
            if (buffer[0] == (byte)'\n')
            {
                break;
            }

            position--;
        }

        file.SetLength(position);
    }
}
