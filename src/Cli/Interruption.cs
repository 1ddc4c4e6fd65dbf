using System.Runtime.InteropServices;

namespace AkiDb.Queue.Cli;

/// <summary>
/// Ctrl+C (SIGINT) and SIGTERM as one cancellation token, so a command stops cleanly: <c>embed</c> flushes what it
/// wrote and says how to resume, and every command exits 130 with "Interrupted." (the global exception handler turns
/// the cancellation into that). A second signal is not intercepted: the process ends at once, as a user who presses
/// Ctrl+C twice expects.
/// </summary>
internal sealed partial class Interruption : IDisposable
{
    public const int ExitCode = 130;

    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration _sigterm;

    private Interruption()
    {
        Console.CancelKeyPress += OnCancelKeyPress;
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = !_stop.IsCancellationRequested;
            Cancel();
        });
    }

    public CancellationToken Token => _stop.Token;

    public bool IsRequested => _stop.IsCancellationRequested;

    /// <summary>Call first in <c>Main</c>, before anything touches <see cref="Console"/> (which installs .NET's signal handling).</summary>
    public static Interruption Install()
    {
        HearSigintEvenIfInheritedIgnored();
        return new Interruption();
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKeyPress;
        _sigterm.Dispose();
        _stop.Dispose();
    }

    private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
    {
        // The first one stops the command cleanly; a second one while that is under way gets the default: exit now.
        e.Cancel = !_stop.IsCancellationRequested;
        Cancel();
    }

    private void Cancel()
    {
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// A process started in the background by a non-interactive shell (<c>cmd &amp;</c> in a script, some CI runners and
    /// test hosts) inherits SIGINT as ignored, and .NET then never installs its handler (so that its own children keep
    /// ignoring it): Ctrl+C and <c>kill -INT</c> did nothing, and <c>embed</c> waited out <c>--result-timeout</c>
    /// instead of stopping. Whether it worked depended on how the CLI was started, which is why it looked like a
    /// race. The CLI promises that SIGINT stops it, so it restores the default disposition before .NET looks.
    /// </summary>
    private static void HearSigintEvenIfInheritedIgnored()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        // struct sigaction starts with the handler on Linux and macOS; 256 bytes cover the rest of it everywhere.
        var current = new byte[256];
        if (SigAction(SIGINT, IntPtr.Zero, current) == 0 && BitConverter.ToInt64(current, 0) == SIG_IGN)
        {
            Signal(SIGINT, SIG_DFL);
        }
    }

    private const int SIGINT = 2;
    private const nint SIG_DFL = 0;
    private const nint SIG_IGN = 1;

    [LibraryImport("libc", EntryPoint = "sigaction")]
    private static partial int SigAction(int signal, IntPtr action, [Out] byte[] previous);

    [LibraryImport("libc", EntryPoint = "signal")]
    private static partial nint Signal(int signal, nint handler);
}
