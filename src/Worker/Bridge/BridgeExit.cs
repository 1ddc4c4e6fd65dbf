namespace AkiDb.Queue.Worker.Bridge;

/// <summary>How a bridge process ended. <see cref="KillReason"/> is set when the worker killed it, and says why.</summary>
public sealed record BridgeExit(int? ExitCode, string? KillReason, string StderrTail)
{
    public override string ToString()
    {
        var how = KillReason is not null ? $"killed by the worker ({KillReason})"
            : ExitCode is > 128 and < 160 ? $"exit code {ExitCode} (signal {ExitCode - 128})"
            : $"exit code {ExitCode}";
        return string.IsNullOrWhiteSpace(StderrTail) ? how : $"{how}; last stderr: {StderrTail}";
    }
}
