package segments

import "math"

// Azure Blob Storage list prices for block blob data stored, in USD per
// GB-month: LRS, East US, pay-as-you-go, first 50 TB, as published on the
// Azure pricing page in January 2025. Operations, egress and early-deletion
// charges are not included. They are estimates to size a migration, not a
// quote.
const (
	PriceDate        = "2025-01"
	PriceHotPerGBMo  = 0.018
	PriceCoolPerGBMo = 0.010
	PriceColdPerGBMo = 0.0036
	PriceArchPerGBMo = 0.00099
	bytesPerGB       = 1 << 30
	PriceNote        = "Azure Blob Storage list prices (LRS, East US, pay-as-you-go, first 50 TB) as of " + PriceDate + "; storage only, no operations or egress"
)

// TierCost is an estimated monthly storage cost for one access tier.
type TierCost struct {
	Tier       string  `json:"tier"`
	USDPerGBMo float64 `json:"usdPerGbMonth"`
	USD        float64 `json:"usd"`
}

// EstimateMonthlyCost prices bytes in the hot, cool, cold and archive tiers.
func EstimateMonthlyCost(bytes int64) []TierCost {
	gb := float64(bytes) / bytesPerGB
	tiers := []TierCost{
		{Tier: "hot", USDPerGBMo: PriceHotPerGBMo},
		{Tier: "cool", USDPerGBMo: PriceCoolPerGBMo},
		{Tier: "cold", USDPerGBMo: PriceColdPerGBMo},
		{Tier: "archive", USDPerGBMo: PriceArchPerGBMo},
	}
	for i := range tiers {
		tiers[i].USD = math.Round(gb*tiers[i].USDPerGBMo*10000) / 10000
	}
	return tiers
}
