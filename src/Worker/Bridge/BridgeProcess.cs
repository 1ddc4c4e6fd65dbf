using System.Threading.Channels;
using CliWrap;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// One running bridge process, launched and supervised through CliWrap: stdin stays open for the process's
/// whole life and carries request frames, stdout carries reply frames, stderr is forwarded to the logger. It
/// allows one request at a time; the caller (a lane) serialises them and keeps the deadlines (<see cref="BridgeExchange"/>).
/// </summary>
internal sealed class BridgeProcess : IBridgeConnection
{
    private readonly Channel<BridgeFrame> _replies = Channel.CreateUnbounded<BridgeFrame>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly TaskCompletionSource<Stream> _stdin = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closeStdin = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _kill = new();
    private readonly FrameLimits _limits;
    private readonly BridgeLogForwarder _stderr;
    private readonly CommandTask<CommandResult> _execution;
    private string? _killReason;

    private BridgeProcess(BridgeLaunch launch, FrameLimits limits, BridgeLogForwarder stderr)
    {
        _limits = limits;
        _stderr = stderr;
        _execution = Cli.Wrap(launch.Python)
            .WithArguments(launch.Arguments)
            .WithWorkingDirectory(launch.WorkingDirectory)
            .WithEnvironmentVariables(launch.Environment)
            .WithValidation(CommandResultValidation.None)
            .WithStandardInputPipe(PipeSource.Create(HoldStdinOpenAsync))
            .WithStandardOutputPipe(PipeTarget.Create(ReadRepliesAsync))
            .WithStandardErrorPipe(PipeTarget.Create(_stderr.ForwardAsync))
            .ExecuteAsync(_kill.Token, CancellationToken.None);
        _stderr.AttachProcess(_execution.ProcessId);
        Exited = ObserveExitAsync();
    }

    public int ProcessId => _execution.ProcessId;

    /// <summary>Completes the moment the process is gone, whatever the reason.</summary>
    public Task<BridgeExit> Exited { get; }

    public static BridgeProcess Start(BridgeLaunch launch, FrameLimits limits, ILogger logger, int laneId) =>
        new(launch, limits, new BridgeLogForwarder(logger, laneId));

    public async Task SendAsync(byte[] header, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var stdin = await _stdin.Task.WaitAsync(cancellationToken);
        await FrameCodec.WriteAsync(stdin, header, payload, cancellationToken);
    }

    public ValueTask<BridgeFrame> ReceiveAsync(CancellationToken cancellationToken) => _replies.Reader.ReadAsync(cancellationToken);

    /// <summary>Kills the whole process tree at once. The reason is reported with the exit.</summary>
    public void Kill(string reason)
    {
        Interlocked.CompareExchange(ref _killReason, reason, null);
        try
        {
            _kill.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Asks the bridge to exit (shutdown frame, then EOF on stdin) and kills it if it has not within <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (!Exited.IsCompleted && _stdin.Task.IsCompletedSuccessfully)
        {
            try
            {
                using var quick = new CancellationTokenSource(grace);
                await FrameCodec.WriteAsync(_stdin.Task.Result, BridgeJsonContext.Serialize(new ShutdownHeader()), ReadOnlyMemory<byte>.Empty, quick.Token);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
            {
                // Already gone or wedged: the wait below decides.
            }
        }

        _closeStdin.TrySetResult();
        if (await Task.WhenAny(Exited, Task.Delay(grace)) != Exited)
        {
            Kill($"did not exit within {grace.TotalSeconds:F0} s of shutdown");
        }

        await Exited;
    }

    public async ValueTask DisposeAsync()
    {
        if (!Exited.IsCompleted)
        {
            Kill("disposed");
        }

        await Exited;
        _kill.Dispose();
    }

    private async Task HoldStdinOpenAsync(Stream destination, CancellationToken cancellationToken)
    {
        _stdin.TrySetResult(destination);
        // Returning hands the pipe back to CliWrap, which closes it: EOF tells the bridge to exit.
        await _closeStdin.Task.WaitAsync(cancellationToken);
    }

    private async Task ReadRepliesAsync(Stream stdout, CancellationToken cancellationToken)
    {
        try
        {
            while (await FrameCodec.ReadAsync(stdout, _limits, cancellationToken) is { } frame)
            {
                _replies.Writer.TryWrite(frame);
            }

            _replies.Writer.TryComplete(new BridgeExitedException("The bridge closed its stdout."));
        }
        catch (BridgeProtocolException e)
        {
            _replies.Writer.TryComplete(e);
            Kill($"protocol error: {e.Message}");
        }
        catch (Exception e)
        {
            _replies.Writer.TryComplete(e);
        }
    }

    private async Task<BridgeExit> ObserveExitAsync()
    {
        int? exitCode = null;
        try
        {
            exitCode = (await _execution).ExitCode;
        }
        catch (OperationCanceledException)
        {
            // Killed through the forceful cancellation token; the kill reason says why.
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _killReason, $"supervision failed: {e.Message}", null);
        }

        var exit = new BridgeExit(exitCode, _killReason, _stderr.Tail());
        _replies.Writer.TryComplete(new BridgeExitedException($"The bridge exited: {exit}"));
        return exit;
    }
}
