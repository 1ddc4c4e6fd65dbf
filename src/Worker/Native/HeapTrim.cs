using System.Runtime.InteropServices;

namespace AkiDb.Queue.Worker.Native;

/// <summary>
/// <c>malloc_trim(0)</c>: glibc keeps memory that ONNX Runtime freed (a shrunk arena) in the process unless it is
/// trimmed, so without it the worker stays near the peak of its largest batch. No-op where there is no glibc.
/// </summary>
internal static partial class HeapTrim
{
    private static bool _unavailable = !OperatingSystem.IsLinux();

    public static void Trim()
    {
        if (_unavailable)
        {
            return;
        }

        try
        {
            _ = MallocTrim(0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            _unavailable = true; // musl and others: nothing to trim with
        }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
