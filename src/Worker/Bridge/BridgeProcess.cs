using System.Threading.Channels;
using CliWrap;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// One running bridge process, launched and supervised through CliWrap: stdin stays open for the process's
/// whole life and carries request frames, stdout carries reply frames, stderr is forwarded to the logger. It
/// allows one request at a time; the caller (a lane) serialises them.
/// </summary>
internal sealed class BridgeProcess : IAsyncDisposable
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

    /// <summary>Sends <c>init</c> and waits for <c>ready</c>.</summary>
    public async Task<BridgeReply> InitializeAsync(InitHeader init, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var (reply, _) = await ExchangeAsync(BridgeJsonContext.Serialize(init), ReadOnlyMemory<byte>.Empty, expectedId: null, timeout, "start-up", cancellationToken);
        return reply.Type switch
        {
            "ready" => reply,
            "error" => throw new InvalidOperationException($"The bridge could not start: {reply.Code}: {reply.Message}"),
            _ => throw Broken(new BridgeProtocolException($"Expected 'ready' from the bridge, got '{reply.Type}'.")),
        };
    }

    /// <summary>Sends a request frame and returns the reply with the same id, or throws once <paramref name="deadline"/> passes.</summary>
    public Task<(BridgeReply Reply, ReadOnlyMemory<byte> Payload)> RequestAsync(
        byte[] header, ReadOnlyMemory<byte> payload, long id, TimeSpan deadline, CancellationToken cancellationToken) =>
        ExchangeAsync(header, payload, id, deadline, "request", cancellationToken);

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

    private async Task<(BridgeReply Reply, ReadOnlyMemory<byte> Payload)> ExchangeAsync(
        byte[] header, ReadOnlyMemory<byte> payload, long? expectedId, TimeSpan deadline, string what, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(deadline);
        try
        {
            var stdin = await _stdin.Task.WaitAsync(timeout.Token);
            await FrameCodec.WriteAsync(stdin, header, payload, timeout.Token);
            var frame = await _replies.Reader.ReadAsync(timeout.Token);
            var reply = BridgeJsonContext.ParseReply(frame.Header);
            if (expectedId is { } id && reply.Id != id)
            {
                throw new BridgeProtocolException($"Reply id {reply.Id} does not match request id {id}.");
            }

            return (reply, frame.Payload);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Kill($"missed its {deadline.TotalMilliseconds:F0} ms {what} deadline");
            throw new BridgeTimeoutException($"The bridge (pid {ProcessId}) missed its {deadline.TotalMilliseconds:F0} ms {what} deadline and was killed.");
        }
        catch (OperationCanceledException)
        {
            // The caller gave up mid-request: the reply may still come and would be read as the answer to the next
            // request, so this process can no longer be trusted.
            Kill("request abandoned by the worker");
            throw;
        }
        catch (BridgeProtocolException e)
        {
            throw Broken(e);
        }
        catch (Exception e) when (e is ChannelClosedException or IOException or ObjectDisposedException)
        {
            // Usually the process is already dying; one that closed its stdout but lives on is killed here.
            if (await Task.WhenAny(Exited, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None)) != Exited)
            {
                Kill("closed its stdout but kept running");
            }

            var exit = await Exited;
            throw new BridgeExitedException($"The bridge (pid {ProcessId}) exited during a {what}: {exit}", e.InnerException ?? e);
        }
    }

    private BridgeProtocolException Broken(BridgeProtocolException e)
    {
        Kill($"protocol error: {e.Message}");
        return e;
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
