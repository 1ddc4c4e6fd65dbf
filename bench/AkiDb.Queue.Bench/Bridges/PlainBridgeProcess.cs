using System.Diagnostics;
using System.Text;
using AkiDb.Queue.Worker.Bridge;

namespace AkiDb.Queue.Bench.Bridges;

/// <summary>
/// Starts a bridge from the worker's own launch (interpreter, arguments, minimal environment) with plain
/// System.Diagnostics pipes: the bench's comparison clients must not ride on the worker's CliWrap plumbing.
/// </summary>
internal static class PlainBridgeProcess
{
    public static Process Start(BridgeLaunch launch, string what, Encoding? stdoutEncoding = null)
    {
        var start = new ProcessStartInfo(launch.Python)
        {
            WorkingDirectory = launch.WorkingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = stdoutEncoding,
        };
        foreach (var argument in launch.Arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Clear();
        foreach (var (name, value) in launch.Environment)
        {
            if (value is not null)
            {
                start.Environment[name] = value;
            }
        }

        return Process.Start(start) ?? throw new InvalidOperationException($"The {what} did not start.");
    }
}
