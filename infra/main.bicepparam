// Parameters of main.bicep. Works with `az deployment group create -p infra/main.bicepparam` and with azd
// (azd sets AZURE_ENV_NAME and AZURE_PRINCIPAL_ID). Everything not named here keeps main.bicep's default;
// location defaults to the resource group's region. tests/infra/test_params.py checks every value here
// against the parameter types and allowed values of main.bicep.
using './main.bicep'

param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'snapshot')

// UserAssigned (default: roles exist before the site) or SystemAssigned.
param identityType = 'UserAssigned'

// single (default) or multi (customer tenants through a multi-tenant app registration; needs UserAssigned above
// and a deployer who can create app registrations: infra/README.md, "Deploying with tenancy=multi").
// With azd: azd env set SNAPSHOT_TENANCY multi. The app reads the same name as its app setting.
param tenancy = readEnvironmentVariable('SNAPSHOT_TENANCY', 'single')

// Only the app settings to change from the defaults of snapshot/settings.py, e.g.
// { SNAPSHOT_POLL_SCHEDULE: '0 */2 * * * *' }
param snapshotSettings = {}

// The deployer (azd's signed-in principal) gets the storage data roles to run the app locally against
// Azure storage; empty = none. Signed in as a service principal? Also pass deployerPrincipalType.
param deployerPrincipalId = readEnvironmentVariable('AZURE_PRINCIPAL_ID', '')

param deployerPrincipalType = 'User'

param maximumInstanceCount = 40

param instanceMemoryMB = 2048

param logRetentionInDays = 30

param tags = {
  app: 'tenant-snapshot'
}
