using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Console;

namespace AkiDb.Queue.Worker.Hosting;

/// <summary>
/// Console log lines with a UTC timestamp, one line per entry, so a log read later (a file, <c>docker logs</c>)
/// says when each thing happened. Only the defaults change: <c>Logging:Console:FormatterOptions</c> in
/// configuration still wins.
/// </summary>
internal static class ConsoleLogFormat
{
    public const string TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";

    public static void Configure(IServiceCollection services)
    {
        // Without a formatter name the console logger copies its obsolete options (no timestamp) over the formatter's.
        services.Configure<ConsoleLoggerOptions>(options => options.FormatterName ??= ConsoleFormatterNames.Simple);
        services.Configure<SimpleConsoleFormatterOptions>(options =>
        {
            if (options.TimestampFormat is null)
            {
                options.TimestampFormat = TimestampFormat;
                options.UseUtcTimestamp = true;
                options.SingleLine = true;
            }
        });
    }
}
