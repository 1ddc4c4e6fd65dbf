using System.Text.Json;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// Remembers which Python was chosen, so a restart does not import numpy in every candidate again (about 0.2 s each,
/// most of the locator's share of start-up). The entry is trusted for a day and only while the interpreter file and
/// numpy's __init__.py are the ones probed; anything else probes afresh.
/// </summary>
internal sealed class PythonProbeCache(string file, TimeProvider time)
{
    private static readonly TimeSpan MaxAge = TimeSpan.FromDays(1);

    public PythonInterpreter? TryLoad()
    {
        try
        {
            var entry = JsonSerializer.Deserialize<Entry>(File.ReadAllText(file));
            if (entry is null || time.GetUtcNow() - entry.ProbedAt > MaxAge || entry.Interpreter.NumpyFile is not { } numpy)
            {
                return null;
            }

            return Stamp(entry.Interpreter.Path) == entry.InterpreterStamp && Stamp(numpy) == entry.NumpyStamp ? entry.Interpreter : null;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void Save(PythonInterpreter chosen)
    {
        if (chosen.NumpyFile is null)
        {
            return;
        }

        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            var temp = $"{file}.{Environment.ProcessId}.tmp";
            File.WriteAllText(temp, JsonSerializer.Serialize(new Entry(chosen, time.GetUtcNow(), Stamp(chosen.Path), Stamp(chosen.NumpyFile))));
            File.Move(temp, file, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A read-only cache only costs the probe next time.
        }
    }

    public void Forget()
    {
        try
        {
            File.Delete(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Identity of a file's content as the file system reports it: its final target, size and modification time.</summary>
    private static string Stamp(string path)
    {
        var info = new FileInfo(path);
        var target = info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info;
        return target.Exists ? $"{target.FullName}|{target.Length}|{target.LastWriteTimeUtc.Ticks}" : "missing";
    }

    private sealed record Entry(PythonInterpreter Interpreter, DateTimeOffset ProbedAt, string InterpreterStamp, string NumpyStamp);
}
