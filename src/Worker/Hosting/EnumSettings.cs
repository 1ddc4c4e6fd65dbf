using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Hosting;

/// <summary>
/// Options with enum settings, bound from configuration by name, case-insensitively (<c>native</c>, <c>Native</c>).
/// The configuration binder would accept numbers and comma lists for an enum and reports a bad value without the
/// values allowed, so each enum setting is checked first and a bad one is reported like every other invalid setting:
/// an <see cref="OptionsValidationException"/> naming the key and the allowed values, at start.
/// </summary>
public static class EnumSettings
{
    /// <summary>Binds <paramref name="section"/> to <typeparamref name="TOptions"/>, validated by data annotations at start.</summary>
    public static OptionsBuilder<TOptions> AddValidatedOptions<TOptions>(this IServiceCollection services, string section)
        where TOptions : class =>
        services.AddOptions<TOptions>()
            .Configure<IConfiguration>((options, configuration) =>
            {
                var settings = configuration.GetSection(section);
                var problems = new List<string>();
                Check(typeof(TOptions), settings, problems);
                if (problems.Count > 0)
                {
                    throw new OptionsValidationException(Options.DefaultName, typeof(TOptions), problems);
                }

                settings.Bind(options);
            })
            .ValidateDataAnnotations()
            .ValidateOnStart();

    /// <summary>
    /// The section as it binds now, for the few decisions composition makes before the container exists (whether Redis,
    /// an exporter or a consumer is registered at all): the same binding as <see cref="AddValidatedOptions{TOptions}"/>,
    /// not a second way to read settings. Not validated here: a section that does not bind gives the defaults, and the
    /// registration above reports it, naming the key, when the host starts.
    /// </summary>
    public static TOptions ReadForComposition<TOptions>(this IConfiguration configuration, string section)
        where TOptions : class, new()
    {
        var settings = configuration.GetSection(section);
        var problems = new List<string>();
        Check(typeof(TOptions), settings, problems);
        var options = new TOptions();
        try
        {
            if (problems.Count == 0)
            {
                settings.Bind(options);
            }
        }
        catch (InvalidOperationException)
        {
            return new TOptions();
        }

        return options;
    }

    /// <summary>The name a value has in configuration and on the wire to the bridge: lower-case.</summary>
    public static string Name<TEnum>(TEnum value)
        where TEnum : struct, Enum => value.ToString().ToLowerInvariant();

    /// <summary>'a' or 'b'; 'a', 'b' or 'c'.</summary>
    public static string Allowed(Type enumType)
    {
        var names = Enum.GetNames(enumType).Select(n => $"'{n.ToLowerInvariant()}'").ToList();
        return names.Count == 1 ? names[0] : $"{string.Join(", ", names[..^1])} or {names[^1]}";
    }

    private static void Check(Type type, IConfigurationSection section, List<string> problems)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            var setting = section.GetSection(property.Name);
            var propertyType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (propertyType.IsEnum)
            {
                if (setting.Value is { } value && !Enum.GetNames(propertyType).Contains(value.Trim(), StringComparer.OrdinalIgnoreCase))
                {
                    problems.Add($"{setting.Path} must be {Allowed(propertyType)} (was '{value}').");
                }
            }
            else if (propertyType.IsGenericType && propertyType.GetGenericTypeDefinition() == typeof(Dictionary<,>)
                     && propertyType.GetGenericArguments()[1] is { IsClass: true } entryType && entryType != typeof(string))
            {
                foreach (var entry in setting.GetChildren())
                {
                    Check(entryType, entry, problems);
                }
            }
        }
    }
}
