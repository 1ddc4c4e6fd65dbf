using System.Runtime.InteropServices;
using AkiDb.Queue.Worker.Hosting;

namespace AkiDb.Queue.Tests;

public sealed class NativeHeapTrimmerTests
{
    /// <summary>
    /// The trimmer looks malloc_trim up at run time and quietly does nothing where it is missing, so a wrong library or
    /// symbol name would switch it off without a sound: on a glibc Linux (this project's machines) it must be found.
    /// </summary>
    [Fact]
    public void On_glibc_linux_malloc_trim_is_found()
    {
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libc.so.6", out _))
        {
            return; // not a glibc Linux: nothing to trim there
        }

        Assert.NotNull(NativeHeapTrimmer.MallocTrimAddress());
    }
}
